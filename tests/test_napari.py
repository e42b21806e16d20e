"""The napari dock widget, headless (offscreen Qt): segments a sample into a Labels layer.

napari's canvas needs OpenGL, which Qt's offscreen platform gets from an X server: pytest-xvfb
starts a virtual one (Debian: xvfb, and Mesa's libgl1-mesa-dri). Skips with a reason where
napari, pytest-qt or an X display is missing (``pip install "cellseg-offline[napari,test]"``).
"""
import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("napari", reason="napari is not installed (extra [napari])")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed")
if not os.environ.get("DISPLAY"):
    pytest.skip("no X display for napari's OpenGL canvas (install xvfb and pytest-xvfb)",
                allow_module_level=True)

import cellseg  # noqa: E402
from cellseg.io.datasets import read_paired  # noqa: E402
from cellseg.napari_plugin import SegmentWidget  # noqa: E402
from conftest import SAMPLES  # noqa: E402


def sample(prefix: str) -> np.ndarray:
    return next(it for it in read_paired(SAMPLES) if it.id.startswith(prefix)).load()[0]


def run(widget, qtbot):
    """Press Segment and wait until its worker has finished: the button is disabled when it
    starts and enabled again by the worker's finished signal, delivered in this thread after
    its result (so there is no race with a worker that finishes at once)."""
    widget.run.native.click()
    assert not widget.run.enabled
    qtbot.waitUntil(lambda: widget.run.enabled, timeout=120_000)


def test_widget_segments_a_sample_like_the_api(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = sample("fluorescence_")
    viewer.add_image(image, name="fluo")
    # opened as napari opens it from the Plugins menu (npe2 manifest)
    _, widget = viewer.window.add_plugin_dock_widget("cellseg-offline", "Segment (cellseg)")
    assert isinstance(widget, SegmentWidget)
    assert widget.layer.value is viewer.layers["fluo"] and widget.model.value == "automatic"
    run(widget, qtbot)
    labels = viewer.layers["fluo labels"]
    assert np.array_equal(labels.data, cellseg.segment(image))
    features = labels.features
    assert len(features) == labels.data.max() + 1 and np.isnan(features["area"][0])
    assert features["area"][5] == (labels.data == 5).sum()
    assert labels.metadata["cellseg_model"] == "nuclei"


def test_widget_otsu_and_colour_image(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = sample("histology_")
    viewer.add_image(image, name="he", rgb=True)
    widget = SegmentWidget(viewer)
    run(widget, qtbot)
    assert viewer.layers["he labels"].metadata["cellseg_model"] == "he"
    widget.model.value = "otsu"
    assert widget.folder.native.isHidden()
    run(widget, qtbot)   # the same layer is updated, not duplicated
    assert np.array_equal(viewer.layers["he labels"].data, cellseg.segment(image, method="otsu"))
    assert [layer.name for layer in viewer.layers] == ["he", "he labels"]


def test_widget_errors_are_one_line_notifications(make_napari_viewer, qtbot, monkeypatch,
                                                  tmp_path):
    import napari.utils.notifications as notifications
    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    viewer = make_napari_viewer()
    viewer.add_image(sample("fluorescence_"), name="fluo")
    widget = SegmentWidget(viewer)
    widget.model.value = "model folder"
    assert not widget.folder.native.isHidden()
    widget.folder.value = tmp_path / "no_model_here"
    run(widget, qtbot)
    assert len(shown) == 1 and "\n" not in shown[0] and "no_model_here" in shown[0]
    assert "fluo labels" not in viewer.layers and widget.run.enabled
