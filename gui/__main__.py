"""The ``torchcanvas`` command: with a subcommand it runs headless (runtime.cli); otherwise it
opens the app. Qt is imported only when a window is opened."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from torchcanvas.runtime.subcommands import SUBCOMMANDS

    if argv and argv[0] in SUBCOMMANDS:
        from torchcanvas.runtime.cli import main as cli_main

        return cli_main(argv)
    parser = argparse.ArgumentParser(
        prog="torchcanvas",
        description="Visual model builder for PyTorch. Headless commands: "
        + ", ".join(SUBCOMMANDS)
        + " (see `torchcanvas COMMAND --help`).",
    )
    parser.add_argument("file", nargs="?", type=Path, help="a project (.json) to open")
    parser.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="open the project, wait for shapes, save an image of the window, exit",
    )
    args = parser.parse_args(argv)
    from torchcanvas.runtime.shape_service import prestart

    prestart()  # torch loads in the shape process, on another core, while the window is built
    from torchcanvas.gui.app import run

    return run(args.file, screenshot=args.screenshot)


if __name__ == "__main__":
    sys.exit(main())
