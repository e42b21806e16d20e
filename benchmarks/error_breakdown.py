"""What kind of error a model makes: each true object counted as found, merged, split, missed
or mis-outlined.

    python benchmarks/error_breakdown.py --model runs/he_boundary_no_monuseg \
        --data ../shared/data/he/monuseg_train          # every image of a folder
    python benchmarks/error_breakdown.py --model cells --data ../shared/data/usiigaci --validation
    python benchmarks/error_breakdown.py --model nuclei --data ../shared/data/dsb2018/stage1_train \
        --size 512x640                                  # one DSB2018 experiment

Each true object falls in one class, by its best IoU with a predicted object and by what that
object holds:

- found: IoU > 0.5 (the F1@0.5 matches);
- merged: IoU 0.1-0.5 and its best predicted object also holds most (> 50 %) of another true
  object: touching objects taken as one;
- split: IoU 0.1-0.5 and at least two predicted objects each hold 20 % or more of it;
- outline: IoU 0.1-0.5 otherwise (one object, outlined too large or too small);
- missed: IoU < 0.1; "missed, small" are those under a quarter of the image's median true
  object area (tiny objects, or annotation fragments left where outlines overlapped).

Also prints the predicted objects that match no true object at IoU > 0.5 ("unmatched
predictions": merged objects, false detections, and unannotated objects alike), and what each
half of the model's work costs: the scores of its labels beside those of its instance step run
on the TRUE foreground (what telling the objects apart alone reaches) and of its foreground
divided among the true objects, each pixel to the nearest (what its outlines alone reach),
and of its instance step at other foreground probability thresholds than its tuned one (is
the object size a matter of threshold?); and how far from a true outline its wrong
foreground pixels lie, as a fraction of the true foreground area, and per image the
balance of those within 4 px (outside minus inside): a balance that changes sign from image
to image says that the outlines' convention (the annotator's or the model's) differs between
images, which no threshold can follow.
"""
from __future__ import annotations

import argparse
import dataclasses
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from cellseg.cli import parse_diameter
from cellseg.core.instances import probs_to_labels
from cellseg.core.metrics import ERROR_CLASSES, image_scores, object_errors, summarize
from cellseg.io.datasets import open_dataset
from cellseg.model.store import load_model


THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)  # foreground probability thresholds tried


def with_true_parts(model, image, truth, diameter) -> dict[str, np.ndarray]:
    """Labels of ``image``: the model's; its instance step on the true foreground; its
    foreground with each pixel given to the nearest true object; its instance step at each
    foreground threshold of ``THRESHOLDS``."""
    if diameter == "auto":
        diameter, labels, probs = model.auto_passes(image)
    else:
        labels, probs = model.labels_and_probs(image, diameter=diameter)
    params = model.params_at(model.factor(diameter, image.shape[:2]))
    nearest = ndi.distance_transform_edt(truth == 0, return_distances=False, return_indices=True)
    return {"model": labels,
            "true foreground, model's division": probs_to_labels(probs, params, mask=truth > 0),
            "model's foreground, true division": np.where(labels > 0, truth[tuple(nearest)], 0),
            **{f"model, foreground threshold {t:g}":
               probs_to_labels(probs, dataclasses.replace(params, prob_threshold=t))
               for t in THRESHOLDS}}


BANDS = (0, 2, 4, 8, 16, np.inf)  # pixels from the nearest true outline
NEAR = 2  # the first NEAR bands: within 4 px


def wrong_pixels_by_distance(truth: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(2, len(BANDS) - 1) counts of the false-positive (row 0) and false-negative (row 1)
    foreground pixels of ``labels`` in each band of distance to the true foreground's edge."""
    fg = truth > 0
    d = np.where(fg, ndi.distance_transform_edt(fg), ndi.distance_transform_edt(~fg))
    return np.stack([np.histogram(d[wrong], bins=BANDS)[0]
                     for wrong in ((labels > 0) & ~fg, (labels == 0) & fg)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="bundled name or model folder")
    ap.add_argument("--data", required=True, help="annotated dataset folder")
    ap.add_argument("--validation", action="store_true",
                    help="only the model's validation images (ids in its card)")
    ap.add_argument("--diameter", default="auto", help="object diameter (pixels), auto or off")
    ap.add_argument("--size", default=None,
                    help="only the images of this size, HxW (e.g. 512x640)")
    args = ap.parse_args()
    model = load_model(args.model)
    print(f"tuned foreground threshold {model.params.prob_threshold:g}")
    diameter = parse_diameter(args.diameter)
    val_ids = set(model.card["training"]["val_ids"]) if args.validation else None
    total, unmatched, images, parts = Counter(), 0, 0, defaultdict(list)
    wrong, area, balance = 0, 0, []
    for item in open_dataset(Path(args.data)):
        if val_ids is not None and item.id not in val_ids:
            continue
        image, truth = item.load()
        if args.size and "x".join(map(str, image.shape[:2])) != args.size:
            continue
        labels = with_true_parts(model, image, truth, diameter)
        for name, lab in labels.items():
            parts[name].append(image_scores(truth, lab))
        counts, extra = object_errors(truth, labels["model"])
        here, true_area = wrong_pixels_by_distance(truth, labels["model"]), int((truth > 0).sum())
        wrong = wrong + here
        near = here[:, :NEAR].sum(axis=1) / max(true_area, 1)
        balance.append(near[0] - near[1])
        area += true_area
        total.update(counts)
        unmatched += extra
        images += 1
    n = sum(total.values())
    print(f"model {args.model} on {args.data}: {images} images, {n} true objects")
    for name in ERROR_CLASSES:
        print(f"  {name:<15}{total[name]:>7}  {total[name] / max(n, 1):6.1%}")
    print(f"  unmatched predictions {unmatched}")
    print(f"{'labels':<36}{'DSB':>7}{'AP50':>7}{'AP75':>7}{'matched IoU':>12}{'pixel IoU':>10}")
    for name, per_image in parts.items():
        s = summarize(per_image)
        print(f"{name:<36}{s['dsb_score']:>7.3f}{s['ap50']:>7.3f}{s['ap75']:>7.3f}"
              f"{s['mean_matched_iou']:>12.3f}{s['pixel_iou']:>10.3f}")
    bands = [f"{a:g}-{b:g} px" if np.isfinite(b) else f">{a:g} px" for a, b in zip(BANDS, BANDS[1:])]
    print("wrong foreground pixels / true foreground area, by distance to the true outline")
    print(f"{'':<16}" + "".join(f"{b:>10}" for b in bands))
    for name, counts in zip(("outside (FP)", "inside (FN)"), wrong):
        print(f"{name:<16}" + "".join(f"{c / max(area, 1):>10.3f}" for c in counts))
    b = np.percentile(balance, [0, 25, 50, 75, 100])
    print("per image, (outside - inside) within 4 px / true foreground area: min {:.3f}, "
          "quartiles {:.3f} {:.3f} {:.3f}, max {:.3f}".format(*b))


if __name__ == "__main__":
    main()
