"""Screenshots of the real window on an X server, for the README.

Run it under Xvfb (no window manager, so no title bar)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python assets/screenshots/take.py

It starts the app as ``torchcanvas`` does (the digits CNN example), waits for the shapes and
captures the X screen where the window is (``canvas.png``), then presses Train and captures it
again once the run has ended (``training.png``), then explains the run with Grad-CAM on the
first convolution (picked on the canvas) in the Explain tab (``gradcam.png``) and with
Integrated Gradients (``explain.png``); then opens the digits example again, collapses its
convolutions into a block and opens the block in place (Ctrl+B), its body on the canvas under
the bar "Model ▸ ConvBlock" (``block.png``), shows the cost overlay with conv2 selected
(``cost.png``) and the Autograd dock after a three-epoch run that refreshed its graph every
epoch (``autograd.png``), the learning-rate finder's dialog (``lr_finder.png``) and a batch
previewed (``batch_preview.png``); then opens the iris example, sets up a sweep of its learning
rate, batch size and hidden width, runs it in the Sweep dock and captures the finished sweep
(``sweep.png``, ``sweep_trials.png``). ``--only`` writes some of them (``--only gradcam``: the
digits pictures before it are still taken, not written; the sweep runs only when one of its
pictures is asked for).
``--scale 2`` takes the same pictures at 200 % (``QT_SCALE_FACTOR``), written with an ``@2x``
suffix, to check the drawing at high density.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PICTURES = (
    "canvas",
    "training",
    "gradcam",
    "explain",
    "block",
    "cost",
    "autograd",
    "lr_finder",
    "batch_preview",
    "sweep",
    "sweep_trials",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--size", default="1440x900", help="window size, WxH (logical pixels)")
    parser.add_argument("--only", nargs="*", default=PICTURES, choices=PICTURES)
    args = parser.parse_args()
    if "DISPLAY" not in os.environ:
        sys.exit("no X display: run under xvfb-run (see the docstring)")
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    if args.scale != 1.0:
        os.environ["QT_SCALE_FACTOR"] = str(args.scale)
    # a fresh settings, runs and recovery folder: the pictures show a first start
    scratch = Path(tempfile.mkdtemp(prefix="torchcanvas-shots-"))
    os.environ["XDG_CONFIG_HOME"] = str(scratch / "config")
    os.environ["TORCHCANVAS_RUNS_DIR"] = str(scratch / "runs")
    os.environ["TORCHCANVAS_RECOVERY_DIR"] = str(scratch / "recovery")

    from PIL import ImageGrab
    from PySide6.QtCore import QDeadlineTimer, Qt, QThread
    from PySide6.QtWidgets import QApplication

    from torchcanvas.gui import theme
    from torchcanvas.gui.app import default_example
    from torchcanvas.gui.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    app.setApplicationName("torchcanvas")
    theme.apply_palette(app)
    window = MainWindow()
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.move(0, 0)
    window.show()
    suffix = "" if args.scale == 1.0 else f"@{args.scale:g}x"

    def settle(ms: int = 400) -> None:
        deadline = QDeadlineTimer(ms)
        while not deadline.hasExpired():
            app.processEvents()
            QThread.msleep(10)

    def wait_while(busy, deadline: QDeadlineTimer) -> None:
        """Keep the window live while ``busy()`` holds (a run, a sweep), until ``deadline``."""
        while busy() and not deadline.hasExpired():
            app.processEvents()
            QThread.msleep(20)

    def capture(name: str, widget=None) -> None:
        """Write the X screen where ``widget`` (the main window unless said) is."""
        settle()
        if name not in args.only:
            return
        widget = widget or window
        ratio = widget.devicePixelRatio()
        geometry = widget.frameGeometry()
        box = (
            int(geometry.x() * ratio),
            int(geometry.y() * ratio),
            int((geometry.x() + geometry.width()) * ratio),
            int((geometry.y() + geometry.height()) * ratio),
        )
        path = args.out / f"{name}{suffix}.png"
        ImageGrab.grab(bbox=box, xdisplay=os.environ["DISPLAY"]).save(path)
        print(f"{path}: {box[2] - box[0]} x {box[3] - box[1]} px", flush=True)

    if {"canvas", "training", "gradcam", "explain"} & set(args.only):
        if not window.open_example(default_example()):
            return 1
        window.wait_for_shapes()
        window.view.fit_all()
        capture("canvas")

        if not window.start_training():
            return 1
        deadline = QDeadlineTimer(600_000)
        wait_while(lambda: window.training.running, deadline)
        capture("training")

        # Grad-CAM on the first convolution: the last one's maps are too coarse (4x4) to say much
        window.training_tabs.setCurrentWidget(window._explain)
        settle()
        view = window.explain_view
        window._explain_run()
        view.method.setCurrentIndex(view.method.findData("gradcam"))
        conv1 = next(n.id for n in window.doc.graph.nodes() if n.label == "conv1")
        window.scene.select_nodes([conv1])  # selecting a layer on the canvas picks it
        if view.layer.currentData() != conv1 or not view.start():
            return 1
        wait_while(lambda: view.running, deadline)
        capture("gradcam")
        print(view.status.text(), flush=True)
        view.method.setCurrentIndex(view.method.findData("ig"))  # Integrated Gradients
        if not view.start():
            return 1
        wait_while(lambda: view.running, deadline)
        capture("explain")
    window.doc.undo_stack.setClean()

    if "block" in args.only:
        if not window.open_example(default_example()):
            return 1
        window.wait_for_shapes()
        graph = window.doc.graph
        inner = ("conv1", "relu1", "conv2", "relu2")
        window.scene.select_nodes([n.id for n in graph.nodes() if n.label in inner])
        window.ask_block_name = lambda default: "ConvBlock"
        instance = window.collapse_selection()
        if instance is None or not window.wait_for_shapes():
            return 1
        window.scene.select_nodes([instance])
        if not window.edit_selected_block():  # what Ctrl+B does
            return 1
        body = window.block_doc.graph
        window.scene.select_nodes([n.id for n in body.nodes() if n.label == "conv2"])
        window.view.fit_all()
        capture("block")
        window.leave_block()
        window.doc.undo_stack.setClean()

    def conv2_selected() -> bool:
        """The digits example opened afresh, conv2 selected and the whole graph in view."""
        if not window.open_example(default_example()) or not window.wait_for_shapes():
            return False
        window.scene.select_nodes([n.id for n in window.doc.graph.nodes() if n.label == "conv2"])
        window.view.fit_all()
        return True

    if "cost" in args.only:
        if not conv2_selected():
            return 1
        window.set_cost_overlay(True)
        capture("cost")
        window.set_cost_overlay(False)

    if "autograd" in args.only:
        if not conv2_selected():
            return 1
        window.doc.set_setting("epochs", 3)
        window.training_dock.hide()
        window.autograd.dock.show()
        window.autograd.dock.raise_()
        window.autograd.panel.every.setValue(45)  # the graph of the last step of each epoch
        settle()
        if not window.start_training():
            return 1
        window.autograd.dock.raise_()  # the run opens the Training dock in front
        deadline = QDeadlineTimer(600_000)
        wait_while(lambda: window.training.running, deadline)
        # a taller dock, the whole backward graph in it, conv2 at full size on the canvas
        window.resizeDocks([window.autograd.dock], [int(height * 0.5)], Qt.Orientation.Vertical)
        settle()
        window.autograd.panel.view.fit()
        window.view.set_zoom(1.0)
        window.view.centerOn(window.scene.nodes[window.scene.selected_node_ids()[0]])
        capture("autograd")
        window.doc.undo_stack.setClean()

    if "lr_finder" in args.only:
        if not conv2_selected():
            return 1
        dialog = window.find_lr()  # Run ▸ Find learning rate…: the dialog starts at once
        deadline = QDeadlineTimer(600_000)
        wait_while(lambda: dialog.running, deadline)
        capture("lr_finder", dialog)
        print(dialog.status.text(), flush=True)
        dialog.close()

    if "batch_preview" in args.only:
        if not conv2_selected():
            return 1
        window.training_dock.hide()
        panel = window.preview_batch()
        if panel is None:
            return 1
        deadline = QDeadlineTimer(600_000)
        wait_while(lambda: panel.running, deadline)
        settle()  # the result arrives by a queued signal once the thread has ended
        conv2 = next(n.id for n in window.doc.graph.nodes() if n.label == "conv2")
        if not panel.select_node(conv2):  # its row: the histogram and feature maps
            return 1
        window.scene.select_nodes([conv2])
        # room for the table, the histogram, conv2's feature maps and the samples
        dock = window.preview_dock
        window.resizeDocks([dock], [int(width * 0.42)], Qt.Orientation.Horizontal)
        window.resizeDocks(
            [window.inspector_dock, dock],
            [int(height * 0.15), int(height * 0.85)],
            Qt.Orientation.Vertical,
        )
        settle()
        window.view.fit_all()
        capture("batch_preview")
        window.preview_dock.hide()

    if {"sweep", "sweep_trials"} & set(args.only):
        from torchcanvas.assets import assets_dir

        if not window.open_example(assets_dir() / "examples" / "iris_mlp.json"):
            return 1
        window.wait_for_shapes()
        window.view.fit_all()
        doc = window.doc
        doc.set_setting("epochs", 15)
        doc.set_sweep(
            {
                "dimensions": [
                    {"target": "nodes.n6.params.lr", "kind": "log", "low": 1e-4, "high": 0.1},
                    {"target": "settings.batch_size", "kind": "choice", "choices": [8, 16, 32]},
                    {
                        "target": "nodes.n2.params.out_features",
                        "kind": "int",
                        "low": 4,
                        "high": 64,
                        "step": 4,
                    },
                ],
                "objective": {"metric": "val_loss", "direction": "minimize"},
                "strategy": "tpe",
                "trials": 20,
                "timeout_s": None,
                "pruner": "median",
                "seed": 0,
            }
        )
        panel = window.show_sweep()
        panel.tabs.setCurrentIndex(1)  # the plots
        if not panel.start():
            return 1
        deadline = QDeadlineTimer(900_000)
        wait_while(lambda: panel.runner.running, deadline)
        capture("sweep")
        panel.tabs.setCurrentIndex(0)
        capture("sweep_trials")
        doc.undo_stack.setClean()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
