"""Open in TensorBoard: ``tensorboard --logdir`` on a runs folder, started with ``QProcess``,
and the browser opened (``QDesktopServices``) at the address it prints.

One TensorBoard per folder while the window is open: asking again for the same folder opens
the same address; the process ends with the window (``shutdown``). TensorBoard picks a free
port itself (``--port 0``) and listens on this machine only (``--host 127.0.0.1``)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices

START_TIMEOUT_MS = 60_000  # TensorBoard imports a lot before it listens
_URL = re.compile(r"(https?://[^\s/]+:\d+/?)")


def tensorboard_command() -> tuple[str, list[str]]:
    """The ``tensorboard`` on the PATH, else the one installed beside this Python."""
    found = shutil.which("tensorboard")
    if found:
        return found, []
    return sys.executable, ["-m", "tensorboard.main"]


class TensorBoardLauncher(QObject):
    """Starts TensorBoard on a folder and opens its page; ``opened`` sends the address,
    ``failed`` a sentence saying what went wrong."""

    opened = Signal(str)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._folder: Path | None = None
        self._url: str | None = None
        self._output = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._too_slow)

    @property
    def url(self) -> str | None:
        return self._url

    @property
    def running(self) -> bool:
        return (
            self._process is not None and self._process.state() != QProcess.ProcessState.NotRunning
        )

    def open_url(self, url: QUrl) -> bool:  # tests replace this
        return QDesktopServices.openUrl(url)

    def open(self, folder: Path) -> None:
        """Show ``folder`` in TensorBoard: the running one when it shows this folder."""
        folder = Path(folder)
        if self.running and self._folder == folder:
            if self._url:
                self._show(self._url)
            return  # still starting: its address opens when it prints it
        self.shutdown()
        program, args = tensorboard_command()
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(self._read)
        process.errorOccurred.connect(self._error)
        process.finished.connect(self._finished)
        self._process, self._folder, self._url, self._output = process, folder, None, ""
        args += ["--logdir", str(folder), "--host", "127.0.0.1", "--port", "0"]
        process.start(program, args)
        self._timer.start(START_TIMEOUT_MS)

    def shutdown(self) -> None:
        """End the TensorBoard this started (the window closes, or another folder is shown)."""
        process, self._process = self._process, None
        self._timer.stop()
        if process is None:
            return
        for signal in ("readyReadStandardOutput", "errorOccurred", "finished"):
            getattr(process, signal).disconnect()
        if process.state() != QProcess.ProcessState.NotRunning:
            process.terminate()
            if not process.waitForFinished(3000):
                process.kill()
                process.waitForFinished(3000)
        process.deleteLater()

    # ------------------------------------------------------------------ process
    def _read(self) -> None:
        if self._process is None:
            return
        self._output += bytes(self._process.readAllStandardOutput()).decode("utf-8", "replace")
        if self._url is None:
            match = _URL.search(self._output)
            if match:
                self._timer.stop()
                self._url = match.group(1)
                self._show(self._url)

    def _show(self, url: str) -> None:
        self.open_url(QUrl(url))
        self.opened.emit(url)

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._fail("TensorBoard could not start; install it with: pip install tensorboard")

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        if self._url is None:
            last = self._output.strip().splitlines()[-1:] or [f"exit code {code}"]
            self._fail(f"TensorBoard stopped before it opened: {last[0]}")
        self._process = None

    def _too_slow(self) -> None:
        if self._url is None:
            self._fail("TensorBoard did not open within a minute")
            self.shutdown()

    def _fail(self, message: str) -> None:
        self._timer.stop()
        self.failed.emit(message)
