"""Every plot cellseg draws (titles, axis labels with units, legends).

Each function returns a :class:`matplotlib.figure.Figure` built without pyplot, so importing or
calling cellseg never changes the caller's matplotlib backend or open figures; :func:`save`
writes one as PNG (atomically).

Examples
--------
>>> import matplotlib
>>> backend = matplotlib.get_backend()
>>> fig = training_curves([{"epoch": 1, "train_loss": 0.9, "val_dsb_score": 0.3, "lr": 1e-3}])
>>> matplotlib.get_backend() == backend
True
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cellseg.io.write import atomic_path


def figure(width: float, height: float, ncols: int = 1):
    """(Figure, axes) of ``ncols`` side-by-side panels; ``width`` x ``height`` inches."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(1, ncols)
    return fig, axes


def save(fig, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` as PNG (100 dpi) atomically; returns the path."""
    path = Path(path)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path


def counts_per_image(summary: pd.DataFrame):
    """Bar chart of objects per image (summary.csv)."""
    fig, ax = figure(max(5, 0.35 * len(summary) + 2), 4)
    ax.bar(range(len(summary)), summary["count"], color="C0")
    ax.set_xticks(range(len(summary)))
    ax.set_xticklabels(summary["image"], rotation=60, ha="right", fontsize=7)
    ax.set(title="Objects per image", ylabel="count")
    return fig


def area_histogram(measurements: pd.DataFrame):
    """Histogram of object areas (µm² when measured with a pixel size), with the median."""
    fig, ax = figure(6, 4)
    col = "area_um2" if "area_um2" in measurements.columns else "area"
    if len(measurements):
        ax.hist(measurements[col], bins=50, color="C1")
        med = measurements[col].median()
        ax.axvline(med, color="k", ls="--", label=f"median {med:.1f}")
        ax.legend()
    ax.set(title=f"Object size ({len(measurements)} objects)",
           xlabel="area (µm²)" if col == "area_um2" else "area (pixels)", ylabel="objects")
    return fig


def score_vs_iou(columns: dict[str, dict]):
    """AP (TP / (TP + FP + FN), pooled) against the IoU threshold, one line per method."""
    fig, ax = figure(6, 4)
    ts = np.round(np.arange(0.5, 0.951, 0.05), 2)
    for name, s in columns.items():
        ax.plot(ts, [s[f"ap{int(round(t * 100))}"] for t in ts], "o-", label=name)
    ax.set(title="Matching score vs IoU threshold", xlabel="IoU threshold",
           ylabel="TP / (TP + FP + FN)", ylim=(0, 1))
    ax.legend()
    return fig


def confusion_matrix(cm: list[list[int]], title: str = "Pixel confusion matrix"):
    """2 x 2 pixel confusion matrix (rows true, columns predicted), counts and shares."""
    cm = np.asarray(cm, float)
    frac = cm / max(cm.sum(), 1)
    fig, ax = figure(4.5, 4)
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(2):
        for j in range(2):
            ax.text(j, i, f"{int(cm[i, j]):,}\n{100 * frac[i, j]:.1f} %", ha="center",
                    va="center", color="white" if frac[i, j] > 0.5 else "black")
    ax.set_xticks([0, 1], ["background", "object"])
    ax.set_yticks([0, 1], ["background", "object"])
    ax.set(title=title, xlabel="predicted", ylabel="true")
    return fig


def metric_bars(columns: dict[str, dict],
                keys=("dsb_score", "ap50", "f1_50", "pq", "aji", "pixel_iou")):
    """Grouped bars of the main scores, one colour per method."""
    keys = [k for k in keys if all(k in s for s in columns.values())]
    fig, ax = figure(7, 4)
    w = 0.8 / len(columns)
    for i, (name, s) in enumerate(columns.items()):
        ax.bar(np.arange(len(keys)) + i * w, [s[k] for k in keys], w, label=name)
    ax.set_xticks(np.arange(len(keys)) + w * (len(columns) - 1) / 2, keys)
    ax.set(title="Model vs Otsu", ylabel="score (0-1)", ylim=(0, 1))
    ax.legend()
    return fig


def roc_pr(curves: dict):
    """ROC and precision-recall curves from :func:`cellseg.core.metrics.pixel_curves`."""
    fig, (a, b) = figure(10, 4, 2)
    a.plot(curves["fpr"], curves["tpr"], label=f"AUC = {curves['roc_auc']:.3f}")
    a.plot([0, 1], [0, 1], "k:", lw=0.8)
    a.set(title="ROC (foreground pixels)", xlabel="false positive rate",
          ylabel="true positive rate")
    b.plot(curves["recall"], curves["precision"],
           label=f"AP = {curves['average_precision']:.3f}")
    b.set(title="Precision-recall (foreground pixels)", xlabel="recall", ylabel="precision",
          ylim=(0, 1.02))
    a.legend(loc="lower right")
    b.legend(loc="lower left")
    return fig


def error_panels(image_rgb: np.ndarray, truth_rgb: np.ndarray, pred_rgb: np.ndarray,
                 errors_rgb: np.ndarray, title: str):
    """Four pictures side by side: image, truth outlines, prediction outlines, errors."""
    fig, axes = figure(16, 4.4, 4)
    for ax, (name, pic) in zip(axes, [("image", image_rgb), ("truth", truth_rgb),
                                      ("prediction", pred_rgb), ("errors", errors_rgb)]):
        ax.imshow(pic)
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(title)
    return fig


def counts_over_time(counts: pd.DataFrame):
    """Objects per frame (one line per well when counts has a ``well`` column)."""
    fig, ax = figure(7, 4)
    if "well" in counts.columns:
        for w, c in counts.groupby("well"):
            ax.plot(c["frame"], c["count"], label=f"well {w}")
        ax.legend(fontsize=7, ncol=2)
    else:
        ax.plot(counts["frame"], counts["count"], "o-", ms=3)
    ax.set(title="Cells per frame", xlabel="frame", ylabel="count")
    return fig


def track_paths(tracks: pd.DataFrame):
    """Centroid path of every track, in image coordinates."""
    fig, ax = figure(6, 6)
    for _, t in tracks.groupby("track_id"):
        ax.plot(t["centroid_x"], t["centroid_y"], lw=1)
    ax.invert_yaxis()
    ax.set_aspect("equal")
    ax.set(title=f"Cell paths ({tracks['track_id'].nunique()} tracks)", xlabel="x (pixels)",
           ylabel="y (pixels)")
    return fig


def area_over_time(tracks: pd.DataFrame, max_tracks: int = 60):
    """Each track's area against frame (the longest ``max_tracks``), with the per-frame mean."""
    fig, ax = figure(8, 4.5)
    if len(tracks):
        for tid in tracks["track_id"].value_counts().index[:max_tracks]:
            t = tracks[tracks["track_id"] == tid]
            ax.plot(t["frame"], t["area"], lw=0.8, alpha=0.5)
        mean = tracks.groupby("frame")["area"].mean()
        ax.plot(mean.index, mean.values, "k-", lw=2.5, label="mean over cells")
        ax.legend(loc="upper left")
    n = tracks["track_id"].nunique() if len(tracks) else 0
    ax.set(title=f"Cell area over time ({n} tracks; longest {min(n, max_tracks)} drawn)",
           xlabel="frame", ylabel="area (pixels)")
    return fig


def manual_vs_tracks(pairs: list[tuple[str, int, pd.DataFrame]]):
    """Raw and first-frame-normalized areas of manual series and their matched tracks;
    ``pairs``: (series name, track id, table with frame, area_manual, area_cellseg)."""
    fig, axes = figure(12, 4.5, 2)
    for name, tid, j in pairs:
        axes[0].plot(j.frame, j.area_manual, "o-", label=f"manual {name}")
        axes[0].plot(j.frame, j.area_cellseg, "s--", label=f"cellseg track {tid}")
        axes[1].plot(j.frame, j.area_manual / j.area_manual.iloc[0], "o-",
                     label=f"manual {name}")
        axes[1].plot(j.frame, j.area_cellseg / j.area_cellseg.iloc[0], "s--",
                     label=f"cellseg track {tid}")
    axes[0].set(title="Area: manual vs cellseg", xlabel="frame", ylabel="area (pixels)")
    axes[1].set(title="Area normalized to the first frame", xlabel="frame",
                ylabel="area / first")
    for ax in axes:
        if pairs:
            ax.legend(fontsize=8)
    return fig


def training_curves(history: list[dict]):
    """Training loss, validation score and learning rate against epoch."""
    fig, axes = figure(13, 3.6, 3)
    ep = [h["epoch"] for h in history]
    axes[0].plot(ep, [h["train_loss"] for h in history], "o-")
    axes[0].set(title="Training loss", xlabel="epoch", ylabel="loss")
    axes[1].plot(ep, [h["val_dsb_score"] for h in history], "o-", color="C2")
    axes[1].set(title="Validation DSB2018 score", xlabel="epoch", ylabel="score (0-1)")
    axes[2].plot(ep, [h["lr"] for h in history], "o-", color="C3")
    axes[2].set(title="Learning rate", xlabel="epoch", ylabel="lr")
    return fig
