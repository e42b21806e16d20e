"""The cellseg dock widget for napari.

The user picks an image layer, a model (automatic choice per image, nuclei, he, cells, the
Otsu baseline, or a model folder) and optionally the objects' diameter; the segmentation
runs in a worker thread (the viewer stays responsive, napari's activity dock shows it
running) and ends as a Labels layer named ``<image> labels`` whose ``features`` are the
per-object measurements of ``cellseg segment`` (one row per label). Any error reaches the
user as a one-line napari notification.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, PushButton

MODELS = ("automatic", "nuclei", "he", "cells", "otsu", "model folder")


def segment_layer_data(image: np.ndarray, model: str, folder: str | Path | None,
                       diameter: float, rgb: bool):
    """(labels (H, W) int32, measurements table, model name) of one 2-D image.

    model : one of :data:`MODELS`; "model folder" uses ``folder``. diameter : object
    diameter in pixels, 0 for automatic. rgb : the image is (H, W, 3|4) colour.
    """
    from cellseg.core.measure import measure
    from cellseg.errors import InputError
    from cellseg.segmenter import make_segmenter
    image = np.asarray(image)
    if image.ndim != (3 if rgb else 2):
        raise InputError("layer", f"needs a 2-D {'colour ' if rgb else ''}image, got shape "
                         f"{image.shape} (pick one plane)")
    if model == "model folder" and not folder:
        raise InputError("model", "choose a model folder")
    options = {"method": "otsu"} if model == "otsu" else {
        "model": None if model == "automatic" else str(folder) if model == "model folder"
        else model}
    image = image[..., :3] if rgb else image  # napari RGBA layers: drop alpha
    result = make_segmenter(diameter=diameter or "auto", **options)(image)
    return result.labels, measure(result.labels, image), result.model


def segment_or_error(*args) -> tuple:
    """(result of :func:`segment_layer_data`, None), or (None, the error as one line): run in
    the worker thread, so that an error becomes a notification instead of a traceback."""
    try:
        return segment_layer_data(*args), None
    except Exception as exc:  # any failure of a user's run is reported, never raised in Qt
        return None, one_line(exc)


class SegmentWidget(Container):
    """Dock widget: image layer, model, diameter, Segment button -> Labels layer."""

    def __init__(self, napari_viewer):
        self.viewer = napari_viewer
        self.layer = ComboBox(label="image", choices=self._image_layers)
        self.model = ComboBox(label="model", choices=MODELS, value="automatic")
        self.folder = FileEdit(label="model folder", mode="d", visible=False)
        self.diameter = FloatSpinBox(label="diameter (px)", value=0.0, min=0.0, max=1000.0,
                                     tooltip="typical object diameter; 0: measured")
        self.run = PushButton(text="Segment")
        super().__init__(widgets=[self.layer, self.model, self.folder, self.diameter,
                                  self.run])
        self.model.changed.connect(lambda v: setattr(self.folder, "visible",
                                                     v == "model folder"))
        self.run.changed.connect(self.start)
        for event in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            event.connect(lambda e: self.layer.reset_choices())
        self.worker = None

    def _image_layers(self, widget=None) -> list:
        from napari.layers import Image
        return [layer for layer in self.viewer.layers if isinstance(layer, Image)]

    def start(self, *args):
        """Segment the chosen layer in a worker thread; returns the worker (started)."""
        from napari.qt.threading import thread_worker
        from napari.utils.notifications import show_error
        layer = self.layer.value
        if layer is None:
            show_error("cellseg: no image layer to segment")
            return None
        work = thread_worker(segment_or_error, progress={"desc": f"cellseg: {layer.name}"})
        folder = self.folder.value if self.model.value == "model folder" else None
        self.worker = work(layer.data, self.model.value, folder, self.diameter.value, layer.rgb)

        def done(out):
            result, error = out
            if error:
                show_error(f"cellseg: {error}")
            else:
                self._add_labels(layer, *result)
        self.worker.returned.connect(done)
        self.run.enabled = False
        self.worker.finished.connect(lambda: setattr(self.run, "enabled", True))
        self.worker.start()
        return self.worker

    def _add_labels(self, layer, labels, table, model):
        name = f"{layer.name} labels"
        features = label_features(table, int(labels.max()))
        if name in self.viewer.layers:
            self.viewer.layers[name].data = labels
            self.viewer.layers[name].features = features
        else:
            self.viewer.add_labels(labels, name=name, features=features,
                                   scale=layer.scale[-2:], translate=layer.translate[-2:],
                                   metadata={"cellseg_model": model})


def label_features(table, n: int):
    """napari's features of a Labels layer: row i describes label i (row 0, the background,
    is empty), from a measurements table with one row per label 1..n."""
    return (table.drop(columns=["image"], errors="ignore").set_index("label")
            .reindex(range(n + 1)).rename_axis("label").reset_index())


def one_line(exc: BaseException) -> str:
    """An exception as one line of text."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
