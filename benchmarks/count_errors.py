"""Where a movie's count error comes from: unmarked objects, splits, merges and misses.

    python benchmarks/count_errors.py [--model NAME|PATH] [--every N] [--list]

For each Cell Tracking Challenge sequence ``<dataset>/01`` in ../shared/data/ctc, segments
every N-th frame as ``cellseg track`` does (one object size per movie, measured on its first
frame) and sorts the difference between the predicted count and the number of ``TRA`` markers
(the count error of ``benchmarks/tracking.py``) into:

- extra: predicted objects that hold no marker pixel, split into those touching the image edge
  and the rest, and into dim ones (mean intensity below half the median of the objects that do
  hold a marker) and the rest;
- split: each predicted object belongs to the marker it overlaps most; objects beyond the first
  that belong to one marker;
- merged: markers that no object belongs to but one overlaps (it belongs to another marker);
- missed: markers that no predicted object touches.

predicted - markers = extra + split - merged - missed. ``--list`` prints every extra object.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cellseg.core.metrics import contingency
from cellseg.io.images import read_image
from cellseg.segmenter import make_segmenter

ROOT = Path(__file__).resolve().parents[1]
CTC = ROOT.parent / "shared/data/ctc"


def frame_errors(image: np.ndarray, labels: np.ndarray, markers: np.ndarray) -> list[dict]:
    """One row per predicted object that holds no marker, plus one summary row.

    Parameters
    ----------
    image : (H, W) raw frame.
    labels : (H, W) int predicted labels, 0 = background.
    markers : (H, W) int TRA markers, 0 = background.

    Returns
    -------
    list of dict; the last has ``kind == "frame"`` with counts ``pred``, ``markers``,
    ``split``, ``merged`` and ``missed``; the others ``kind == "extra"`` with ``area``
    (pixels), ``edge`` (touches the image border) and ``relative_intensity`` (mean intensity
    / median mean intensity of the predicted objects holding a marker).
    """
    table = contingency(markers, labels)[1:, 1:]          # marker id x predicted id, pixels
    marker_ids = np.nonzero(np.bincount(markers.ravel()))[0]
    marker_ids = marker_ids[marker_ids > 0]
    pred_ids = np.nonzero(np.bincount(labels.ravel()))[0]
    pred_ids = pred_ids[pred_ids > 0]
    overlap = table[marker_ids - 1][:, pred_ids - 1]      # present markers x present objects
    per_object = (overlap > 0).sum(0)
    owner = overlap.argmax(0)[per_object > 0]             # marker index of each object holding one
    objects_of = np.bincount(owner, minlength=len(marker_ids))
    touched = (overlap > 0).any(1)
    sums = np.bincount(labels.ravel(), weights=image.ravel().astype(float))
    areas = np.bincount(labels.ravel())
    means = sums[pred_ids] / areas[pred_ids]
    reference = np.median(means[per_object > 0]) if (per_object > 0).any() else np.nan
    edge_ids = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0],
                                             labels[:, -1]])).tolist())
    rows = [{"kind": "extra", "label": int(i), "area": int(areas[i]), "edge": int(i) in edge_ids,
             "relative_intensity": float(m / reference)}
            for i, m, n in zip(pred_ids, means, per_object) if n == 0]
    rows.append({"kind": "frame", "pred": len(pred_ids), "markers": len(marker_ids),
                 "split": int(np.clip(objects_of - 1, 0, None).sum()),
                 "merged": int(((objects_of == 0) & touched).sum()),
                 "missed": int((~touched).sum())})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--every", type=int, default=1, help="segment every N-th frame")
    ap.add_argument("--data", default=str(CTC))
    ap.add_argument("--list", action="store_true", help="print every extra object")
    args = ap.parse_args()
    print(f"method: {make_segmenter(model=args.model).describe()}, every {args.every} frame(s)")
    print(f"{'sequence':<22}{'frames':>7}{'pred':>6}{'markers':>8}{'extra':>6}{'at edge':>8}"
          f"{'dim':>5}{'split':>6}{'merged':>7}{'missed':>7}{'count%':>8}")
    for seq in sorted(Path(args.data).glob("*/01")):
        segmenter = make_segmenter(model=args.model, same_scale=True)
        tra = seq.parent / "01_GT" / "TRA"
        totals = dict(frames=0, pred=0, markers=0, extra=0, edge=0, dim=0, split=0, merged=0,
                      missed=0)
        relative = []
        for path in sorted(seq.glob("t*.tif"))[::args.every]:
            image = read_image(path)
            labels = segmenter(image).labels
            rows = frame_errors(image, labels, read_image(tra / f"man_track{path.stem[1:]}.tif"))
            frame = rows.pop()
            totals["frames"] += 1
            for key in ("pred", "markers", "split", "merged", "missed"):
                totals[key] += frame[key]
            totals["extra"] += len(rows)
            totals["edge"] += sum(r["edge"] for r in rows)
            totals["dim"] += sum(r["relative_intensity"] < 0.5 for r in rows)
            relative.append(abs(frame["pred"] - frame["markers"]) / max(frame["markers"], 1))
            if args.list:
                for r in rows:
                    print(f"  {seq.parent.name} {path.name} label {r['label']}: {r['area']} px, "
                          f"edge {r['edge']}, intensity {r['relative_intensity']:.2f}x")
        name = f"{seq.parent.name}/01"
        print(f"{name:<22}{totals['frames']:>7}{totals['pred']:>6}{totals['markers']:>8}"
              f"{totals['extra']:>6}{totals['edge']:>8}{totals['dim']:>5}{totals['split']:>6}"
              f"{totals['merged']:>7}{totals['missed']:>7}{100 * np.mean(relative):>7.1f}%")


if __name__ == "__main__":
    main()
