"""Plots written as PNG next to the CSVs (titles, axis labels with units, legends)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cellseg.io.write import atomic_path


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    _plt().close(fig)
    return path


def counts_per_image(summary: pd.DataFrame, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(summary) + 2), 4))
    ax.bar(range(len(summary)), summary["count"], color="C0")
    ax.set_xticks(range(len(summary)))
    ax.set_xticklabels(summary["image"], rotation=60, ha="right", fontsize=7)
    ax.set(title="Objects per image", ylabel="count")
    fig.tight_layout()
    return save(fig, path)


def area_histogram(measurements: pd.DataFrame, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    um = "area_um2" in measurements.columns
    col = "area_um2" if um else "area"
    if len(measurements):
        ax.hist(measurements[col], bins=50, color="C1")
        med = measurements[col].median()
        ax.axvline(med, color="k", ls="--", label=f"median {med:.1f}")
        ax.legend()
    ax.set(title=f"Object size ({len(measurements)} objects)",
           xlabel="area (µm²)" if um else "area (pixels)", ylabel="objects")
    fig.tight_layout()
    return save(fig, path)


def score_vs_iou(columns: dict[str, dict], path: Path) -> Path:
    """AP (TP / (TP + FP + FN), pooled) against the IoU threshold, one line per method."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    ts = np.round(np.arange(0.5, 0.951, 0.05), 2)
    for name, s in columns.items():
        ax.plot(ts, [s[f"ap{int(round(t * 100))}"] for t in ts], "o-", label=name)
    ax.set(title="Matching score vs IoU threshold", xlabel="IoU threshold",
           ylabel="TP / (TP + FP + FN)", ylim=(0, 1))
    ax.legend()
    fig.tight_layout()
    return save(fig, path)


def confusion_matrix(cm: list[list[int]], path: Path, title: str = "Pixel confusion matrix") -> Path:
    plt = _plt()
    cm = np.asarray(cm, float)
    frac = cm / max(cm.sum(), 1)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(2):
        for j in range(2):
            ax.text(j, i, f"{int(cm[i, j]):,}\n{100 * frac[i, j]:.1f} %", ha="center",
                    va="center", color="white" if frac[i, j] > 0.5 else "black")
    ax.set_xticks([0, 1], ["background", "object"])
    ax.set_yticks([0, 1], ["background", "object"])
    ax.set(title=title, xlabel="predicted", ylabel="true")
    fig.tight_layout()
    return save(fig, path)


def metric_bars(columns: dict[str, dict], path: Path,
                keys=("dsb_score", "ap50", "f1_50", "pixel_iou", "pixel_dice")) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    w = 0.8 / len(columns)
    for i, (name, s) in enumerate(columns.items()):
        ax.bar(np.arange(len(keys)) + i * w, [s[k] for k in keys], w, label=name)
    ax.set_xticks(np.arange(len(keys)) + w * (len(columns) - 1) / 2, keys)
    ax.set(title="Model vs Otsu", ylabel="score (0-1)", ylim=(0, 1))
    ax.legend()
    fig.tight_layout()
    return save(fig, path)


def roc_pr(curves: dict, path: Path) -> Path:
    """ROC and precision-recall curves from :func:`cellseg.metrics.pixel_curves`."""
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(curves["fpr"], curves["tpr"], label=f"AUC = {curves['roc_auc']:.3f}")
    a.plot([0, 1], [0, 1], "k:", lw=0.8)
    a.set(title="ROC (foreground pixels)", xlabel="false positive rate", ylabel="true positive rate")
    b.plot(curves["recall"], curves["precision"], label=f"AP = {curves['average_precision']:.3f}")
    b.set(title="Precision-recall (foreground pixels)", xlabel="recall", ylabel="precision",
          ylim=(0, 1.02))
    a.legend(loc="lower right")
    b.legend(loc="lower left")
    fig.tight_layout()
    return save(fig, path)


def counts_over_time(counts: pd.DataFrame, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    if "well" in counts.columns:
        for w, c in counts.groupby("well"):
            ax.plot(c["frame"], c["count"], label=f"well {w}")
        ax.legend(fontsize=7, ncol=2)
    else:
        ax.plot(counts["frame"], counts["count"], "o-", ms=3)
    ax.set(title="Cells per frame", xlabel="frame", ylabel="count")
    fig.tight_layout()
    return save(fig, path)


def track_paths(tracks: pd.DataFrame, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 6))
    for tid, t in tracks.groupby("track_id"):
        ax.plot(t["centroid_x"], t["centroid_y"], lw=1)
    ax.invert_yaxis()
    ax.set_aspect("equal")
    ax.set(title=f"Cell paths ({tracks['track_id'].nunique()} tracks)", xlabel="x (pixels)",
           ylabel="y (pixels)")
    fig.tight_layout()
    return save(fig, path)
