"""Accuracy of a model vs the Otsu pipeline (with and without watershed) on its validation split.

    python benchmarks/accuracy.py --model nuclei    # DSB2018 validation split (model card)
    python benchmarks/accuracy.py --model cells     # Usiigaci sets 41-45
    python benchmarks/accuracy.py --model cells --also runs/cells_v040   # and another model
    python benchmarks/accuracy.py --diameter off    # no object-size rescaling
    python benchmarks/accuracy.py --bf16            # also under CPU bfloat16 autocast

The validation images are the ones listed in the model card (``training.val_ids``), read from
the dataset the model was trained on. Prints one table: DSB2018 score, AP@0.5 (pooled),
F1@0.5, pixel IoU and Dice, mean absolute count error and images/s, overall and per image
type. A model tuned for several instance steps (``instances_by_method`` in its card: seeds
from the centre distance or from the foreground off the object rims) gets one row per step;
``--also`` adds rows for other models (e.g. a previous version) on the same images.
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

from cellseg.cli import parse_diameter
from cellseg.core.classical import segment_otsu
from cellseg.core.metrics import image_scores, summarize
from cellseg.io.datasets import detect_layout, dsb_image_type, open_dataset
from cellseg.model.store import load_model

ROOT = Path(__file__).resolve().parents[1]
DATA = {"nuclei": ROOT.parent / "shared/data/dsb2018/stage1_train",
        "cells": ROOT.parent / "shared/data/usiigaci"}


def segment_with(model, tta: bool, diameter, instances: dict | None = None,
                 backend: str = "auto"):
    """A function segmenting an image with ``model`` (with the instance-step parameters
    ``instances`` instead of its own, if given) through ``backend``."""
    if instances is not None:
        model = model.with_instances(instances)
    return lambda im: model.segment(im, tta=tta, diameter=diameter, backend=backend)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="nuclei", help="bundled name or model folder")
    ap.add_argument("--data", default=None, help="dataset the model card's val_ids refer to")
    ap.add_argument("--also", action="append", default=[],
                    help="another model (bundled name or folder) scored on the same images")
    ap.add_argument("--tta", action="store_true")
    ap.add_argument("--bf16", action="store_true",
                    help="also a row for the model under CPU bfloat16 autocast (backend bf16)")
    ap.add_argument("--diameter", default="auto",
                    help="object diameter in pixels, auto (the default of cellseg segment) or off")
    args = ap.parse_args()
    model = load_model(args.model)
    diameter = parse_diameter(args.diameter)
    data = Path(args.data) if args.data else DATA.get(args.model)
    if data is None:
        raise SystemExit("give --data for a model that is not bundled")
    val_ids = set(model.card["training"]["val_ids"])
    items = [it for it in open_dataset(data) if it.id in val_ids]
    is_dsb = detect_layout(data) == "dsb"
    methods = {"model": segment_with(model, args.tta, diameter)}
    if args.bf16:
        methods["model, bfloat16"] = segment_with(model, args.tta, diameter, backend="bf16")
    for step, params in model.card.get("instances_by_method", {}).items():
        methods[f"model, {step} seeds"] = segment_with(model, args.tta, diameter, params)
    for other in args.also:
        methods[Path(other).name] = segment_with(load_model(other), args.tta, diameter)
    methods |= {
        "otsu+watershed": lambda im: segment_otsu(im, watershed=True, invert=model.card["input"]["invert"]),
        "otsu": lambda im: segment_otsu(im, watershed=False, invert=model.card["input"]["invert"]),
    }
    scores = {m: defaultdict(list) for m in methods}
    seconds = {m: 0.0 for m in methods}
    for it in items:
        image, truth = it.load()
        kind = dsb_image_type(image) if is_dsb else "all-images"
        for name, fn in methods.items():
            t0 = time.perf_counter()
            pred = fn(image)
            seconds[name] += time.perf_counter() - t0
            s = image_scores(truth, pred)
            scores[name]["all"].append(s)
            scores[name][kind].append(s)
    print(f"model {args.model}: {len(items)} validation images of {data.name}, diameter "
          f"{args.diameter}{', TTA' if args.tta else ''}")
    print(f"{'method':<24}{'subset':<16}{'images':>7}{'DSB':>8}{'AP50':>8}{'F1@50':>8}"
          f"{'pixIoU':>8}{'Dice':>8}{'countMAE':>10}{'img/s':>8}")
    kinds = sorted(k for k in scores["model"] if k != "all")
    for name in methods:
        for kind in ["all"] + (kinds if len(kinds) > 1 else []):
            s = summarize(scores[name][kind])
            rate = f"{len(items) / seconds[name]:8.2f}" if kind == "all" else ""
            print(f"{name:<24}{kind:<16}{s['images']:>7}{s['dsb_score']:>8.3f}{s['ap50']:>8.3f}"
                  f"{s['f1_50']:>8.3f}{s['pixel_iou']:>8.3f}{s['pixel_dice']:>8.3f}"
                  f"{s['count_mae']:>10.1f}{rate}")
    best_otsu = max(summarize(scores[m]["all"])["dsb_score"] for m in ("otsu", "otsu+watershed"))
    gain = summarize(scores["model"]["all"])["dsb_score"] - best_otsu
    print(f"model - best Otsu variant, DSB2018 score: {gain:+.3f}")


if __name__ == "__main__":
    main()
