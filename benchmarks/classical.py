"""Classical Otsu pipeline over the DSB2018 stage-1 training images: speed and accuracy.

    python benchmarks/classical.py [--data ../shared/data/dsb2018/stage1_train] [--limit N]

Prints images/s (segmentation only, reading excluded) and the DSB2018 score, AP@0.5 and
pixel IoU, overall and per image type, with and without the watershed split.
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

from cellseg.core.classical import segment_otsu
from cellseg.core.metrics import image_scores, summarize
from cellseg.io.datasets import dsb_image_type, read_dsb

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/dsb2018/stage1_train"))
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    items = read_dsb(args.data)[: args.limit]
    scores = {True: defaultdict(list), False: defaultdict(list)}
    seconds = {True: 0.0, False: 0.0}
    for it in items:
        image, truth = it.load()
        kind = dsb_image_type(image)
        for ws in (True, False):
            t0 = time.perf_counter()
            pred = segment_otsu(image, watershed=ws)
            seconds[ws] += time.perf_counter() - t0
            s = image_scores(truth, pred)
            scores[ws][kind].append(s)
            scores[ws]["all"].append(s)
    print(f"Otsu pipeline on {len(items)} DSB2018 stage1_train images")
    print(f"{'variant':<18}{'subset':<14}{'images':>7}{'DSB':>8}{'AP50':>8}{'F1@50':>8}"
          f"{'pixIoU':>8}{'img/s':>8}")
    for ws in (True, False):
        name = "otsu+watershed" if ws else "otsu"
        for kind in ("all", "fluorescence", "brightfield", "histology"):
            if not scores[ws][kind]:
                continue
            s = summarize(scores[ws][kind])
            rate = f"{len(items) / seconds[ws]:8.1f}" if kind == "all" else ""
            print(f"{name:<18}{kind:<14}{s['images']:>7}{s['dsb_score']:>8.3f}{s['ap50']:>8.3f}"
                  f"{s['f1_50']:>8.3f}{s['pixel_iou']:>8.3f}{rate}")


if __name__ == "__main__":
    main()
