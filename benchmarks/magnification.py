"""Accuracy at other magnifications: validation images resized, with and without rescaling.

    python benchmarks/magnification.py --model nuclei [--every 3] [--factors 0.5 1 2 3]
    python benchmarks/magnification.py --tolerance 1.5   # another resizing tolerance

Each validation image of the model card (every ``--every``-th one) and its annotation are
resized by each factor (bilinear / nearest neighbour), as if taken with another objective, then
segmented with ``diameter=None`` (the model as trained) and ``diameter="auto"`` (measure the
object size on a first pass; resize for the model when it is off by more than the tolerance,
1.75x by default). Prints DSB2018 score and AP@0.5 per factor.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from skimage.transform import resize

from cellseg.core import rescale
from cellseg.core.metrics import image_scores, summarize
from cellseg.io.datasets import open_dataset
from cellseg.model.store import load_model

ROOT = Path(__file__).resolve().parents[1]
DATA = {"nuclei": ROOT.parent / "shared/data/dsb2018/stage1_train",
        "cells": ROOT.parent / "shared/data/usiigaci"}


def magnified(image: np.ndarray, truth: np.ndarray, factor: float):
    """(image, truth) resized by ``factor``."""
    if factor == 1:
        return image, truth
    shape = (round(truth.shape[0] * factor), round(truth.shape[1] * factor))
    image = resize(image.astype(np.float32), shape + image.shape[2:], order=1,
                   preserve_range=True, anti_aliasing=factor < 1)
    truth = resize(truth, shape, order=0, preserve_range=True, anti_aliasing=False)
    return image, truth.astype(np.int32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="nuclei")
    ap.add_argument("--data", default=None)
    ap.add_argument("--every", type=int, default=3, help="use every n-th validation image")
    ap.add_argument("--factors", type=float, nargs="+", default=[0.5, 1.0, 2.0, 3.0])
    ap.add_argument("--tolerance", type=float, default=None,
                    help=f"resize when objects are off by more than this (default {rescale.TOLERANCE})")
    args = ap.parse_args()
    if args.tolerance:
        rescale.TOLERANCE = args.tolerance
    if args.data is None and args.model not in DATA:
        ap.error(f"--data is needed for the model {args.model} (known without it: {', '.join(DATA)})")
    model = load_model(args.model)
    data = Path(args.data) if args.data else DATA[args.model]
    val_ids = set(model.card["training"]["val_ids"])
    items = [it for it in open_dataset(data) if it.id in val_ids][::args.every]
    print(f"model {args.model} (trained object diameter {model.object_diameter:.1f} px): "
          f"{len(items)} validation images of {data.name}, resized by each factor; "
          f"tolerance {rescale.TOLERANCE}x")
    print(f"{'factor':>7}{'DSB off':>10}{'DSB auto':>10}{'AP50 off':>10}{'AP50 auto':>11}"
          f"{'s/img off':>11}{'s/img auto':>12}")
    for factor in args.factors:
        scores = {"off": [], "auto": []}
        seconds = {"off": 0.0, "auto": 0.0}
        for it in items:
            image, truth = magnified(*it.load(), factor)
            for mode, diameter in (("off", None), ("auto", "auto")):
                t0 = time.perf_counter()
                labels = model.segment(image, diameter=diameter)
                seconds[mode] += time.perf_counter() - t0
                scores[mode].append(image_scores(truth, labels))
        off, auto = summarize(scores["off"]), summarize(scores["auto"])
        n = len(items)
        print(f"{factor:>7.2f}{off['dsb_score']:>10.3f}{auto['dsb_score']:>10.3f}"
              f"{off['ap50']:>10.3f}{auto['ap50']:>11.3f}{seconds['off'] / n:>11.2f}"
              f"{seconds['auto'] / n:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
