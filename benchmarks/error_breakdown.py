"""What kind of error a model makes: each true object counted as found, merged, split, missed
or mis-outlined.

    python benchmarks/error_breakdown.py --model runs/he_boundary_no_monuseg \
        --data ../shared/data/he/monuseg_train          # every image of a folder
    python benchmarks/error_breakdown.py --model cells --data ../shared/data/usiigaci --validation

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
predictions": merged objects, false detections, and unannotated objects alike).
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from cellseg.cli import parse_diameter
from cellseg.core.metrics import ERROR_CLASSES, object_errors
from cellseg.io.datasets import open_dataset
from cellseg.model.store import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="bundled name or model folder")
    ap.add_argument("--data", required=True, help="annotated dataset folder")
    ap.add_argument("--validation", action="store_true",
                    help="only the model's validation images (ids in its card)")
    ap.add_argument("--diameter", default="auto", help="object diameter (pixels), auto or off")
    args = ap.parse_args()
    model = load_model(args.model)
    diameter = parse_diameter(args.diameter)
    val_ids = set(model.card["training"]["val_ids"]) if args.validation else None
    total, unmatched, images = Counter(), 0, 0
    for item in open_dataset(Path(args.data)):
        if val_ids is not None and item.id not in val_ids:
            continue
        image, truth = item.load()
        counts, extra = object_errors(truth, model.segment(image, diameter=diameter))
        total.update(counts)
        unmatched += extra
        images += 1
    n = sum(total.values())
    print(f"model {args.model} on {args.data}: {images} images, {n} true objects")
    for name in ERROR_CLASSES:
        print(f"  {name:<15}{total[name]:>7}  {total[name] / max(n, 1):6.1%}")
    print(f"  unmatched predictions {unmatched}")


if __name__ == "__main__":
    main()
