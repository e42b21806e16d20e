"""The Python API, mirroring the command line; re-exported by ``cellseg``.

Heavy modules (torch) load on first use, so ``import cellseg`` is quick.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def segment(image: np.ndarray, *, method: str = "unet", model=None, diameter="auto",
            tta: bool = False, **options) -> np.ndarray:
    """Label image of one image.

    Parameters
    ----------
    image : (H, W) or (H, W, C) array, any dtype.
    method : "unet" (a trained model) or "otsu" (classical baseline).
    model : None (chosen per image: "he" for stained tissue, else "nuclei"), a bundled name
        ("nuclei", "he", "cells"), a model folder, or a loaded model (:func:`load_model`).
    diameter : typical object diameter in pixels, "auto" (measured on a first pass) or None;
        the image is resized for the model when its objects are far from the model's size.
    tta : test-time augmentation (8 flips/rotations averaged).
    options : tile, overlap, backend (see :class:`cellseg.segmenter.SegmentOptions`).

    Returns
    -------
    (H, W) int32 label image, 0 = background.

    Examples
    --------
    >>> import cellseg
    >>> img = np.zeros((40, 40)); img[5:15, 5:15] = 1; img[25:35, 20:30] = 1
    >>> int(cellseg.segment(img, method="otsu").max())
    2
    """
    from cellseg.segmenter import make_segmenter
    seg = make_segmenter(method=method, model=model, diameter=diameter, tta=tta, **options)
    return seg(image).labels


def track(frames, *, labels: bool = False, grid: tuple[int, int] | None = None,
          max_gap: int = 2, search_radius: float = 1.5, **segment_options):
    """Follow cells through a sequence of frames.

    Parameters
    ----------
    frames : iterable of (H, W[, C]) images, or of label images with ``labels=True``.
    labels : the frames are label images already (no segmentation).
    grid : (rows, cols) of wells, each tracked on its own.
    max_gap, search_radius : see :class:`cellseg.core.tracking.Tracker`.
    segment_options : as for :func:`segment`; the model and an "auto" diameter are fixed on
        the first frame and kept for the whole movie.

    Returns
    -------
    (list of (H, W) int32 label images with track ids, pandas table with columns frame,
    [well,] track_id, area, centroid_y, centroid_x, mean_intensity, parent_id) — the same
    table as ``cellseg track`` writes to tracks.csv.

    Examples
    --------
    >>> import cellseg
    >>> a = np.zeros((20, 20), int); a[2:6, 2:6] = 1
    >>> b = np.zeros((20, 20), int); b[3:7, 3:7] = 7
    >>> tracked, table = cellseg.track([a, b], labels=True)
    >>> table["track_id"].tolist(), int(tracked[1].max())
    ([1, 1], 1)
    """
    from cellseg.core.tracking import TRACK_COLUMNS, track_frames
    from cellseg.segmenter import make_segmenter
    segment_fn = None
    if not labels:
        seg = make_segmenter(same_scale=True, **segment_options)
        segment_fn = lambda image: seg(image).labels  # noqa: E731
    out, rows = [], []
    for tracked, table in track_frames(frames, segment_fn, grid=grid, max_gap=max_gap,
                                       search_radius=search_radius):
        out.append(tracked)
        rows.append(table)
    return out, (pd.concat(rows, ignore_index=True) if rows
                 else pd.DataFrame(columns=TRACK_COLUMNS))


def train(data, out_dir: str | Path, config=None, **kwargs):
    """Train a U-Net on annotated dataset folders; see :func:`cellseg.training.train`.

    config : a :class:`cellseg.training.TrainConfig`, a dict, or a YAML file path.
    """
    from cellseg.training import TrainConfig
    from cellseg.training import train as _train
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    elif config is not None and not isinstance(config, TrainConfig):
        config = TrainConfig.from_file(config)
    data = [data] if isinstance(data, (str, Path)) else list(data)
    return _train(data, out_dir, config, **kwargs)
