"""The plot docks load pyqtgraph when first needed, not while the window opens."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_the_main_window_module_does_not_import_pyqtgraph():
    code = (
        "import sys; import torchcanvas.gui.main_window; "
        "assert 'pyqtgraph' not in sys.modules, 'pyqtgraph imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.fixture
def runs(isolated, monkeypatch):
    monkeypatch.setenv("TORCHCANVAS_RUNS_DIR", str(isolated / "runs"))
    return isolated / "runs"


def test_curves_are_built_when_a_run_starts_and_show_its_steps(qtbot, window, runs):
    assert not window._curves.built and not window.training_dock.isVisible()
    assert not window._results.built
    window.doc.set_setting("epochs", 1)
    assert window.start_training()
    try:
        assert window.training_dock.isVisible()
        qtbot.waitUntil(
            lambda: window._curves.built and window.plots.point_count > 0, timeout=60_000
        )
        qtbot.waitUntil(lambda: window.training.state == "idle", timeout=60_000)
    finally:
        window.training.stop_and_wait()
    window.plots.refresh()
    assert window.plots.point_count == 45  # every step of the epoch
    assert window.plots.raw_curve.getData()[0] is not None
    assert window.plots.isVisible()  # inside its tab, in the dock


def test_the_curves_tab_builds_its_plots_when_the_dock_is_shown(qtbot, window):
    tabs = window.training_tabs
    assert not window._curves.built and not window._results.built
    window.training_dock.show()
    qtbot.waitUntil(lambda: window._curves.built)
    assert tabs.widget(0) is window.plots and window.plots.isVisible()
    assert tabs.tabText(0) == "Curves" and tabs.currentIndex() == 0
    assert not window._results.built  # not looked at yet
    tabs.setCurrentIndex(1)  # the user opens the Results tab
    qtbot.waitUntil(lambda: window._results.built)
    assert tabs.currentWidget() is window.results and window.results.isVisible()
    assert tabs.tabText(1) == "Results" and tabs.count() == 5
    assert tabs.tabText(2) == "Explain" and not window._explain.built  # not looked at yet
    assert window.results.mode() == "empty"


def test_the_autograd_panel_is_built_when_its_dock_shows(qtbot, window):
    dock = window.autograd
    assert not dock.built and dock.dock.widget() is None
    window.scene.select_nodes([window.doc.graph.node_ids()[0]])  # no panel needed for this
    assert not dock.built
    dock.dock.show()
    qtbot.waitUntil(lambda: dock.built)
    assert dock.dock.widget() is dock.panel and dock.panel.isVisible()
    assert dock.capture()  # the panel works as one built at start-up
    assert dock.panel.graph is not None and dock.panel.scene.items_by_key
