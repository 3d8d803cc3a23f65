"""Re-save the bundled examples with the shape results they open with (``results`` in the
file), so the window draws shapes before inference has run: ``python refresh_results.py``."""

from __future__ import annotations

from pathlib import Path

from torchcanvas.graph import load
from torchcanvas.graph.serialize import results_to_dict, save, to_dict
from torchcanvas.runtime.shapes import infer_shapes


def main() -> None:
    for path in sorted(Path(__file__).resolve().parent.glob("*.json")):
        graph = load(path)
        result = infer_shapes(graph)  # as the window runs it: an example has no folder
        save(
            graph,
            path,
            results_to_dict(
                to_dict(graph),
                result.shapes,
                result.param_counts,
                result.trainable_counts,
                result.resolved,
            ),
        )
        print(f"{path.name}: {len(result.shapes)} shapes, {len(result.problems)} problems")


if __name__ == "__main__":
    main()
