"""Time-lapse validation on the Cell Tracking Challenge movies in ../shared/data/ctc.

    python benchmarks/tracking.py [--method unet|otsu] [--max-frames N] [--diameter auto|off|N]

For each sequence ``<dataset>/01`` it runs ``cellseg track`` (segment + link) and prints,
against ``01_GT``: mean per-frame SEG, count error over time, the relative error of each
ground-truth cell's area followed over time, link accuracy (continuations and divisions),
frames/s and the peak resident memory of the process.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import tifffile

from cellseg.cli import parse_diameter
from cellseg.core.track_metrics import evaluate_tracking
from cellseg.jobs.track_movie import run_track
from cellseg.segmenter import make_segmenter

ROOT = Path(__file__).resolve().parents[1]
CTC = ROOT.parent / "shared/data/ctc"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="unet", choices=["unet", "otsu"])
    ap.add_argument("--model", default=None)
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--data", default=str(CTC))
    ap.add_argument("--per-frame", action="store_true", help="print the per-frame table too")
    ap.add_argument("--diameter", default="auto", help="as cellseg track --diameter")
    args = ap.parse_args()
    diameter = parse_diameter(args.diameter)
    print(f"method: {make_segmenter(method=args.method, model=args.model, diameter=diameter).describe()}")
    print(f"{'sequence':<22}{'frames':>7}{'SEG':>7}{'countMAE':>9}{'count%':>8}{'area%':>7}"
          f"{'links':>7}{'link acc':>9}{'div':>5}{'div acc':>8}{'frames/s':>9}{'peakMB':>8}")
    for seq in sorted(Path(args.data).glob("*/01")):
        # as cellseg track: one object size per movie, measured on its first frame
        segmenter = make_segmenter(method=args.method, model=args.model, diameter=diameter,
                                   same_scale=True)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            tracks = run_track(seq, tmp, segmenter, quiet=True, max_frames=args.max_frames,
                               gif=False)
            seconds = time.perf_counter() - t0
            stack = tifffile.TiffFile(Path(tmp) / "tracked.tif")
            frames = [p.asarray() for p in stack.pages]
            s, per_frame = evaluate_tracking(frames, tracks, seq.parent / "01_GT")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        name = f"{seq.parent.name}/01"
        print(f"{name:<22}{s['frames']:>7}{s['seg_mean']:>7.3f}{s['count_mae']:>9.2f}"
              f"{100 * s['count_mean_relative_error']:>7.1f}%{100 * s['area_relative_error_mean']:>6.1f}%"
              f"{s['continuation_links'] + s['division_links']:>7}{s['link_accuracy']:>9.3f}"
              f"{s['division_links']:>5}{s['division_accuracy']:>8.3f}{s['frames'] / seconds:>9.2f}"
              f"{peak:>8.0f}")
        if args.per_frame:
            print(per_frame.to_string(index=False))


if __name__ == "__main__":
    main()
