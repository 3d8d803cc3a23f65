"""The headless subcommands' names, apart from ``runtime.cli`` so that the ``torchcanvas``
command can tell a subcommand from a window without importing anything else."""

SUBCOMMANDS = (
    "check",
    "train",
    "export",
    "import",
    "generate",
    "predict",
    "sweep",
    "lr-find",
    "explain",
    "preview",
)
