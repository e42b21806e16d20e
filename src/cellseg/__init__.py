"""cellseg: segment, measure and track cells and nuclei in microscopy images.

The Python API mirrors the command line::

    import cellseg
    labels = cellseg.segment(image)                  # (H, W) int32, 0 = background
    table = cellseg.measure(labels, image)           # one row per object
    scores = cellseg.evaluate(truth, labels)         # DSB2018 score, AP, F1, PQ, AJI, ...
    tracked, tracks = cellseg.track(frames)          # same id = same cell in every frame

This module only re-exports; see ``docs/architecture.md`` for where each part lives.
"""
from __future__ import annotations

__version__ = "0.24.1"

from cellseg.api import segment, track, train  # noqa: E402
from cellseg.core.measure import measure  # noqa: E402
from cellseg.core.metrics import evaluate  # noqa: E402
from cellseg.model.store import load_model  # noqa: E402
from cellseg.segmenter import SegmentOptions, make_segmenter  # noqa: E402

__all__ = ["SegmentOptions", "evaluate", "load_model", "make_segmenter", "measure", "segment",
           "track", "train", "__version__"]
