"""How sure a difference between two models is, image by image, on the gray sources.

    python benchmarks/paired_difference.py --pair ../runs/nuclei_pretrained_leftout ../runs/nuclei_gpu_leftout \
        --pair nuclei ../runs/nuclei_gpu_share

For each ``--pair A B`` and each gray source of ``benchmarks/generalization.py`` (the DSB2018
512x640 experiment, SIM+ 01, SIM+ 01 with noise, GOWT1 01), both models segment the same
images (``--diameter auto``, ONNX Runtime); printed: the mean per-image score of each (DSB2018
score; SEG for GOWT1, whose ground truth outlines ~2 nuclei per frame), the mean difference
B - A, its 95 % interval from 10,000 bootstrap resamples of the images (paired: an image is
drawn with both its scores), and on how many images B scores higher. The interval covers which
images a source happens to hold, not the spread between training runs of one recipe, which
only more runs measure.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generalization import gray_sources, segmenter  # noqa: E402

from cellseg.core.metrics import image_scores  # noqa: E402

RESAMPLES = 10_000


def per_image(model: str, pairs: list, metric: str) -> np.ndarray:
    """(N,) score of ``model`` on each (image, truth) pair."""
    seg = segmenter(model=model)
    return np.array([image_scores(truth, seg(image).labels)[metric] for image, truth in pairs])


def interval(diff: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of the mean of ``diff`` (images resampled with replacement)."""
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (RESAMPLES, len(diff)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", nargs=2, action="append", required=True, metavar=("A", "B"))
    ap.add_argument("--max-images", type=int, default=None)
    args = ap.parse_args()
    sources = gray_sources(args.max_images)
    w = max(len(Path(m).name) for pair in args.pair for m in pair) + 2
    print(f"{'source':<22}{'A':<{w}}{'B':<{w}}{'imgs':>5}{'A':>7}{'B':>7}{'B-A':>8}"
          f"{'95% interval':>18}{'B better':>9}")
    for a, b in args.pair:
        for source, (_, _, pairs) in sources.items():
            metric = "seg" if "GOWT1" in source else "dsb_score"
            sa, sb = per_image(a, pairs, metric), per_image(b, pairs, metric)
            lo, hi = interval(sb - sa)
            print(f"{source[:21]:<22}{Path(a).name:<{w}}{Path(b).name:<{w}}{len(pairs):>5}"
                  f"{sa.mean():>7.3f}{sb.mean():>7.3f}{(sb - sa).mean():>+8.3f}"
                  f"{f'[{lo:+.3f}, {hi:+.3f}]':>18}{int((sb > sa).sum()):>5}/{len(pairs):<3}",
                  flush=True)


if __name__ == "__main__":
    main()
