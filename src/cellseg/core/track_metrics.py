"""Scores of a tracked movie against Cell Tracking Challenge ground truth (``NN_GT``).

- per-frame SEG (frames with ``SEG/man_segTTT.tif``) and count error (vs ``TRA`` markers);
- relative area error of each ground-truth cell followed over time: a SEG object is named by
  the TRA marker it holds, matched to the predicted object with IoU > 0.5, and
  |area_pred - area_true| / area_true is averaged per cell, then over cells;
- link accuracy: the fraction of ground-truth links reproduced. A link is a cell present in
  frames t and t+1 (same predicted id needed under its markers in both frames) or a division
  from ``man_track.txt`` (the daughter's predicted track must name the mother's predicted
  track as its parent).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from cellseg.core.metrics import contingency, image_scores, iou_matrix
from cellseg.io.images import read_image


def _marker_owner(tra: np.ndarray, pred: np.ndarray) -> dict[int, int]:
    """TRA id -> predicted label covering most of its marker (0 if none)."""
    table = contingency(tra, pred)
    out = {}
    for tid in np.nonzero(table[1:].sum(1))[0] + 1:
        row = table[tid, 1:]
        out[int(tid)] = int(row.argmax() + 1) if row.max() > 0 else 0
    return out


def evaluate_tracking(tracked: list[np.ndarray] | np.ndarray, tracks: pd.DataFrame,
                      gt_dir: str | Path, frames: int | None = None) -> tuple[dict, pd.DataFrame]:
    """(summary, per-frame table) of a tracked label stack vs CTC ground truth in ``gt_dir``."""
    gt = Path(gt_dir)
    n = len(tracked) if frames is None else frames
    lineage = np.loadtxt(gt / "TRA" / "man_track.txt", dtype=int, ndmin=2)
    parent_of = {int(r[0]): int(r[3]) for r in lineage}
    first_of = {int(r[0]): int(r[1]) for r in lineage}
    last_of = {int(r[0]): int(r[2]) for r in lineage}
    pred_parent = dict(zip(tracks["track_id"].astype(int), tracks["parent_id"].astype(int))) \
        if len(tracks) else {}
    owners: list[dict[int, int]] = []
    rows, area_err = [], defaultdict(list)
    for t in range(n):
        pred = np.asarray(tracked[t])
        tra = read_image(gt / "TRA" / f"man_track{t:03d}.tif").astype(np.int64)
        own = _marker_owner(tra, pred)
        owners.append(own)
        row = {"frame": t, "n_true": len(own), "n_pred": int(len(np.unique(pred)) - 1)}
        row["count_error"] = row["n_pred"] - row["n_true"]
        seg_file = gt / "SEG" / f"man_seg{t:03d}.tif"
        if seg_file.exists():
            seg = read_image(seg_file).astype(np.int64)
            row["seg"] = image_scores(seg, pred)["seg"]
            table = contingency(seg, pred)
            iou = iou_matrix(table)
            # name each SEG object by the TRA marker it holds
            names = contingency(seg, tra)[1:, 1:]
            for s in np.nonzero(table[1:].sum(1))[0]:
                if names.shape[1] == 0 or names[s].max() == 0 or iou.shape[1] == 0:
                    continue
                cell = int(names[s].argmax() + 1)
                p = int(iou[s].argmax())
                if iou[s, p] > 0.5:
                    a_true = table[s + 1].sum()
                    a_pred = table[:, p + 1].sum()
                    area_err[cell].append(abs(a_pred - a_true) / a_true)
        rows.append(row)
    links = hits = 0
    div_links = div_hits = 0
    for t in range(n - 1):
        for cell, p0 in owners[t].items():
            if cell in owners[t + 1]:
                links += 1
                hits += int(p0 != 0 and owners[t + 1][cell] == p0)
    for cell, mother in parent_of.items():
        f0 = first_of[cell]
        if mother == 0 or f0 >= n or f0 == 0:
            continue
        fm = last_of.get(mother, f0 - 1)
        if fm >= n or mother not in owners[fm] or cell not in owners[f0]:
            continue
        div_links += 1
        pm, pd_ = owners[fm][mother], owners[f0][cell]
        div_hits += int(pm != 0 and pd_ != 0 and pred_parent.get(pd_) == pm)
    per_frame = pd.DataFrame(rows)
    per_cell = [np.mean(v) for v in area_err.values()]
    summary = {
        "frames": n,
        "seg_mean": float(per_frame["seg"].mean()) if "seg" in per_frame else float("nan"),
        "count_mae": float(per_frame["count_error"].abs().mean()),
        "count_mean_relative_error": float((per_frame["count_error"].abs()
                                            / per_frame["n_true"].clip(lower=1)).mean()),
        "area_relative_error_mean": float(np.mean(per_cell)) if per_cell else float("nan"),
        "area_relative_error_median": float(np.median(per_cell)) if per_cell else float("nan"),
        "cells_followed": len(per_cell),
        "link_accuracy": (hits + div_hits) / (links + div_links) if links + div_links else float("nan"),
        "continuation_links": links, "continuation_accuracy": hits / links if links else float("nan"),
        "division_links": div_links,
        "division_accuracy": div_hits / div_links if div_links else float("nan"),
    }
    return summary, per_frame
