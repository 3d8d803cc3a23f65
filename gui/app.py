"""Application start-up: one QApplication, the main window, uncaught exceptions shown in the app."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

from torchcanvas.gui import theme
from torchcanvas.gui.main_window import MainWindow


def default_example() -> Path:
    from torchcanvas.assets import assets_dir

    return assets_dir() / "examples" / "digits_cnn.json"


def install_excepthooks(window: MainWindow) -> None:
    """Show uncaught exceptions from any thread in the app instead of losing them."""

    def show(exc_type, exc, tb) -> None:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        sys.stderr.write(text)
        QTimer.singleShot(0, lambda: window.show_error("Unexpected error", str(exc), text))

    sys.excepthook = show
    threading.excepthook = lambda args: show(args.exc_type, args.exc_value, args.exc_traceback)


STARTUP_REPORT = "TORCHCANVAS_STARTUP_REPORT"


class _StartupReport(QObject):
    """With ``TORCHCANVAS_STARTUP_REPORT=1`` in the environment (bench/startup.py): print, as
    JSON lines on stdout, the moment the canvas first painted and the moment inferred shapes
    were on it (``time.time()``, and this process's CPU seconds), then quit."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        self.painted = False
        window.view.viewport().installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Paint and not self.painted:
            self.painted = True
            QTimer.singleShot(
                0, lambda: self._say("first_paint", saved=self.window.doc.shapes is not None)
            )
        return False

    def follow(self, doc) -> None:
        doc.shapesUpdated.connect(self._shapes)  # after the scene's: the canvas has them

    def _shapes(self, result) -> None:
        if result.saved:
            return
        self.window.view.viewport().repaint()
        self._say("shapes", problems=len(result.problems))
        QTimer.singleShot(0, self.window.close)

    @staticmethod
    def _say(moment: str, **extra) -> None:
        print(
            json.dumps(
                {
                    "moment": moment,
                    "time": time.time(),
                    "cpu": time.process_time(),
                    "torch": "torch" in sys.modules,
                    **extra,
                }
            ),
            flush=True,
        )


def run(file: Path | None = None, screenshot: Path | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("torchcanvas")
    app.setOrganizationName("torchcanvas")
    theme.apply_palette(app)
    window = MainWindow()
    install_excepthooks(window)
    report = _StartupReport(window) if os.environ.get(STARTUP_REPORT) == "1" else None
    window.show()
    opened = window.open_file(file) if file else window.open_example(default_example())
    if report is not None:
        report.follow(window.doc)
    if not opened and screenshot is not None:
        return 1
    if file is None and screenshot is None:
        window.offer_startup_recovery()
    if screenshot is not None:

        def grab() -> None:
            window.wait_for_shapes()
            window.view.fit_all()
            app.processEvents()
            ok = window.grab().save(str(screenshot))
            if not ok:
                sys.stderr.write(f"could not write {screenshot}\n")
            window.doc.undo_stack.setClean()
            window.close()
            app.exit(0 if ok else 1)

        QTimer.singleShot(300, grab)
    return app.exec()
