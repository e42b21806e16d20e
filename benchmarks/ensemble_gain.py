"""Whether two models err alike: each alone and the mean of their probability maps, on the
first model's validation images, at several foreground thresholds.

    python benchmarks/ensemble_gain.py --model runs/cells_v014 --model runs/cells_v013
    python benchmarks/ensemble_gain.py --model nuclei --model runs/nuclei_v011 --experiment 512x640

Every map is predicted at the size the first model's ``--diameter auto`` chooses for the image,
and every row labels it with the first model's instance step (its card's method and
thresholds), the foreground threshold varied: the rows differ only in the maps. Both models
must predict the same outputs. ``--experiment 512x640`` adds a subset for DSB2018's
fluorescence images of 512 x 640 pixels (on stage1_train). A mean clearly ahead of both at every
threshold is what ``scripts/average_models.py --outputs`` is worth making into a model.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from cellseg.core.instances import probs_to_labels
from cellseg.core.metrics import image_scores, summarize
from cellseg.io.datasets import dsb_image_type, open_dataset
from cellseg.model.store import load_model

ROOT = Path(__file__).resolve().parents[1]
DATA = {"cells": ROOT.parent / "shared/data/usiigaci",
        "nuclei": ROOT.parent / "shared/data/dsb2018/stage1_train"}
THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True,
                    help="bundled name or model folder (twice)")
    ap.add_argument("--data", default=None, help="dataset of the first model's validation ids")
    ap.add_argument("--experiment", choices=["512x640"], default=None,
                    help="also score DSB2018's 512x640 fluorescence experiment")
    args = ap.parse_args()
    if len(args.model) != 2:
        ap.error("give --model twice")
    a, b = (load_model(m) for m in args.model)
    if a.card["outputs"] != b.card["outputs"]:
        ap.error("the models predict different outputs")
    data = Path(args.data) if args.data else DATA.get(args.model[0])
    if data is None:
        ap.error("give --data for a model that is not bundled")
    val_ids = set(a.card["training"]["val_ids"])
    maps: dict[str, list] = {}  # subset -> (truth, factor, maps of a, maps of b) per image
    for it in open_dataset(data):
        image, truth = it.load()
        if it.id in val_ids:
            subset = "validation"
        elif (args.experiment and image.shape[:2] == (512, 640)
              and dsb_image_type(image) == "fluorescence"):
            subset = args.experiment
        else:
            continue
        diameter, _, probs = a.auto_passes(image)
        factor = 1.0 if diameter is None else a.factor(diameter, image.shape[:2])
        maps.setdefault(subset, []).append((truth, factor, probs, b.probs(image, factor)))
    names = [Path(m).name for m in args.model]
    print(f"{names[0]} and {names[1]} on {data.name}; instance step of {names[0]}: "
          f"{a.params.method}")
    print(f"{'maps':<34}{'subset':<12}{'images':>7}{'fg thr':>8}{'DSB':>8}{'AP50':>8}"
          f"{'F1@50':>8}{'pixIoU':>8}")
    for label, weight in ((names[0], 1.0), (names[1], 0.0), ("mean of both", 0.5)):
        for subset, items in sorted(maps.items(), key=lambda kv: kv[0] != "validation"):
            for thr in THRESHOLDS:
                scores = []
                for truth, factor, pa, pb in items:
                    params = replace(a.params_at(factor), prob_threshold=thr)
                    probs = weight * pa + (1 - weight) * pb
                    scores.append(image_scores(truth, probs_to_labels(probs, params)))
                s = summarize(scores)
                print(f"{label:<34}{subset:<12}{s['images']:>7}{thr:>8.2f}{s['dsb_score']:>8.3f}"
                      f"{s['ap50']:>8.3f}{s['f1_50']:>8.3f}{s['pixel_iou']:>8.3f}")


if __name__ == "__main__":
    main()
