"""cellseg: segment, measure and track cells and nuclei in microscopy images.

The Python API mirrors the command line::

    import cellseg
    labels = cellseg.segment(image)                  # (H, W) int32, 0 = background
    table = cellseg.measure(labels, image)           # one row per object
    scores = cellseg.evaluate(labels, truth)         # DSB2018 score, AP, F1, pixel IoU, ...
    tracked, tracks = cellseg.track(frames)          # same id = same cell in every frame

Heavy modules (torch) load on first use, so ``import cellseg`` is quick.
"""
from __future__ import annotations

__version__ = "0.3.0"

_MODELS: dict = {}


def load_model(name_or_path="nuclei"):
    """A :class:`cellseg.model.Segmenter`: bundled ``nuclei``/``cells``, a folder or a file."""
    from cellseg.model import load_model as _load
    return _load(name_or_path)


def _segmenter(model):
    """A loaded Segmenter for a bundled name, folder or file (loaded once), or ``model`` itself."""
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        key = str(model)
        if key not in _MODELS:
            _MODELS[key] = load_model(model)
        return _MODELS[key]
    return model


def segment(image, *, method: str = "unet", model="nuclei", tta: bool = False,
            diameter="auto", **kwargs):
    """(H, W) int32 label image of an (H, W) or (H, W, C) image.

    method : "unet" (a trained model, default the bundled nuclei model) or "otsu".
    model : bundled name, model folder, or a loaded Segmenter.
    diameter : typical object diameter in pixels, "auto" (measured on a first pass) or None;
        the image is resized for the model when its objects are far from the model's size.
    """
    if method == "otsu":
        from cellseg.classical import segment_otsu
        return segment_otsu(image, **kwargs)
    if method != "unet":
        raise ValueError(f"method must be unet or otsu, got {method!r}")
    return _segmenter(model).segment(image, tta=tta, diameter=diameter, **kwargs)


def measure(labels, image=None, **kwargs):
    """Per-object table (pandas); see :func:`cellseg.measurements.measure`."""
    from cellseg.measurements import measure as _measure
    return _measure(labels, image, **kwargs)


def evaluate(pred, truth):
    """Scores of predicted label image(s) against ground truth; see :mod:`cellseg.metrics`."""
    from cellseg.metrics import evaluate as _evaluate
    return _evaluate(pred, truth)


def train(data, out_dir, config=None, **kwargs):
    """Train a U-Net on annotated dataset folders; see :func:`cellseg.nn.train.train`."""
    from cellseg.nn.train import TrainConfig, train as _train
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    elif config is not None and not isinstance(config, TrainConfig):
        config = TrainConfig.from_file(config)
    return _train(list(data) if not isinstance(data, (str, bytes)) else [data], out_dir, config,
                  **kwargs)


def track(frames, *, labels: bool = False, max_gap: int = 2, **segment_kwargs):
    """Follow cells through a sequence of frames.

    frames : iterable of images (segmented with :func:`segment`; with ``diameter="auto"`` the
        object size is measured on the first frame and kept for all) or, with
        ``labels=True``, of label images.
    Returns (list of (H, W) int32 label images with track ids, pandas table of
    frame, track_id, area, centroid_y, centroid_x, parent_id).
    """
    import numpy as np
    import pandas as pd
    from cellseg.tracking import Tracker
    tracker = Tracker(max_gap=max_gap)
    out, rows = [], []
    segment_kwargs = dict(segment_kwargs)
    for f, frame in enumerate(frames):
        if (f == 0 and not labels and segment_kwargs.get("method", "unet") == "unet"
                and segment_kwargs.get("diameter", "auto") == "auto"):
            model = _segmenter(segment_kwargs.get("model", "nuclei"))
            segment_kwargs["diameter"] = model.measure_diameter(frame)
        lab = np.asarray(frame) if labels else segment(frame, **segment_kwargs)
        tracked, parents = tracker.update(lab)
        out.append(tracked)
        t = measure(tracked)[["label", "area", "centroid_y", "centroid_x"]]
        t = t.rename(columns={"label": "track_id"})
        t.insert(0, "frame", f)
        t["parent_id"] = [parents.get(int(i), 0) for i in t["track_id"]]
        rows.append(t)
    return out, (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame())
