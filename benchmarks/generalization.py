"""Generalization: models scored on images of a source they never saw, beside Otsu.

    python benchmarks/generalization.py --he src/cellseg/models/he.json \
        --he-without-monuseg runs/he_no_monuseg

Rows, per source:

- MoNuSeg 2018 train (30 H&E images, 7 organs, several hospitals): the H&E model trained
  WITHOUT MoNuSeg (leave-one-source-out), the default (automatic model choice, whose H&E model
  did see MoNuSeg: shown for reference only), the gray nuclei model and the Otsu pipeline;
- the H&E model's own validation split (patients/experiments held out of its training), per
  source: in-distribution figures.

Metrics: DSB2018 score (mean over images), AP@0.5 and F1@0.5 (pooled over objects), PQ and AJI
(per image, averaged, as HoVer-Net reports them), mean absolute count error, predicted / true
object count, and seconds per image on this machine.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from cellseg.core.metrics import image_scores, summarize
from cellseg.io.datasets import dsb_image_type, open_dataset
from cellseg.model.store import load_model
from cellseg.segmenter import make_segmenter

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def score(segment, items) -> tuple[dict, float]:
    """(dataset scores, seconds per image) of a callable image -> labels on items."""
    per_image, seconds = [], 0.0
    for image, truth in items:
        t0 = time.perf_counter()
        labels = segment(image)
        seconds += time.perf_counter() - t0
        per_image.append(image_scores(truth, labels))
    return summarize(per_image), seconds / max(1, len(items))


def row(source: str, method: str, s: dict, sec: float) -> str:
    return (f"{source:<30}{method:<34}{s['images']:>5}{s['dsb_score']:>7.3f}{s['ap50']:>7.3f}"
            f"{s['f1_50']:>7.3f}{s['pq']:>7.3f}{s['aji']:>7.3f}{s['count_mae']:>9.1f}"
            f"{s['n_pred'] / max(1, s['n_true']):>9.2f}{sec:>7.2f}")


def validation_items(model_path: str) -> dict[str, list]:
    """The validation images of a model (ids in its card), grouped by dataset folder."""
    card = load_model(model_path).card
    val_ids = set(card["training"]["val_ids"])
    types = card["training"]["config"].get("types") or []
    out: dict[str, list] = {}
    for folder in card["training"]["data"]:
        path = Path(folder)
        if not path.exists():  # a card written on another machine: look in ../shared/data
            path = next(SHARED.rglob(path.name), path)
        for it in open_dataset(path):
            if it.id in val_ids:
                image, truth = it.load()
                if not types or dsb_image_type(image) in types:
                    out.setdefault(path.name, []).append((image, truth))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--he", default="he", help="the H&E model (bundled name or folder)")
    ap.add_argument("--he-without-monuseg", default=None,
                    help="an H&E model trained without MoNuSeg (configs/he.yaml, data "
                         "without he/monuseg_train)")
    ap.add_argument("--max-images", type=int, default=None)
    args = ap.parse_args()
    lab = lambda seg: (lambda im: seg(im).labels)  # noqa: E731
    methods = {"default (automatic choice)": lab(make_segmenter()),
               "gray nuclei model": lab(make_segmenter(model="nuclei")),
               "otsu pipeline": lab(make_segmenter(method="otsu"))}
    print(f"{'source':<30}{'method':<34}{'imgs':>5}{'DSB':>7}{'AP50':>7}{'F1@50':>7}{'PQ':>7}"
          f"{'AJI':>7}{'countMAE':>9}{'pred/true':>9}{'s/img':>7}")
    monuseg = [it.load() for it in open_dataset(SHARED / "he" / "monuseg_train")]
    monuseg = monuseg[:args.max_images]
    unseen = {}
    if args.he_without_monuseg:
        unseen["H&E model, MoNuSeg left out"] = lab(make_segmenter(model=args.he_without_monuseg))
    for name, fn in {**unseen, **methods}.items():
        print(row("MoNuSeg train (unseen)" if name in unseen else "MoNuSeg train", name,
                  *score(fn, monuseg)), flush=True)
    he = lab(make_segmenter(model=args.he))
    for source, items in validation_items(args.he).items():
        for name, fn in {"H&E model": he, **methods}.items():
            print(row(f"{source} (validation)", name, *score(fn, items[:args.max_images])),
                  flush=True)


if __name__ == "__main__":
    main()
