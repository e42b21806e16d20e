"""The ``cellseg track`` job: segment every frame of a movie, link cells, write the results.

Outputs in OUT: ``tracked.tif`` (one page per frame, same id = same cell), ``tracks.csv``
(one row per cell per frame), ``counts.csv``, ``area_over_time.png`` and ``overlay.gif``
(``overlay.mp4`` too when a video writer is installed). Frames are streamed: only the current
and previous frame are held, whatever the length of the movie (the GIF holds its downscaled
frames until it is written).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from cellseg.io.movies import open_movie
from cellseg.io.write import atomic_path, write_csv
from cellseg.overlay import tracked_overlay
from cellseg.tracking import Tracker
from cellseg.wells import fill_background, grid_boxes


def _objects(tracked: np.ndarray, image: np.ndarray) -> pd.DataFrame:
    from cellseg.measurements import measure
    t = measure(tracked, image)
    return t[["label", "area", "centroid_y", "centroid_x", "mean_intensity"]].rename(
        columns={"label": "track_id"})


def run_track(movie_path: str | Path, out: str | Path, segmenter: Callable[[np.ndarray], np.ndarray],
              *, grid: tuple[int, int] | None = None, fill_wells: bool = True,
              max_gap: int = 2, channel: int | None = None, quiet: bool = False,
              gif: bool = True, max_frames: int | None = None) -> pd.DataFrame:
    """Segment and track a movie (its first ``max_frames`` frames if given); write the
    outputs; return the tracks table."""
    import tifffile
    from tqdm import tqdm
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    movie = open_movie(movie_path, channel=channel)
    rows: list[pd.DataFrame] = []
    overlay_frames = []
    trackers: dict[int, Tracker] = {}
    offset_step = 100000  # track ids of well w are w * offset_step + local id
    with atomic_path(out / "tracked.tif") as tmp, tifffile.TiffWriter(tmp, bigtiff=True) as tif:
        total = min(filter(None, (movie.length, max_frames)), default=None)
        for f, image in enumerate(tqdm(movie, total=total, desc="tracking", unit="frame",
                                       disable=quiet)):
            if max_frames is not None and f >= max_frames:
                f -= 1
                break
            boxes = grid_boxes(image.shape[:2], *grid) if grid else [(slice(None), slice(None))]
            tracked = np.zeros(image.shape[:2], np.int32)
            for w, (ys, xs) in enumerate(boxes):
                part = image[ys, xs]
                if grid and fill_wells:
                    part = fill_background(part)
                labels = segmenter(part)
                tracker = trackers.setdefault(w, Tracker(max_gap=max_gap))
                local, parents = tracker.update(labels)
                base = w * offset_step if grid else 0
                tracked[ys, xs] = np.where(local > 0, local + base, 0)
                table = _objects(local, image[ys, xs])
                if len(table):
                    table["parent_id"] = [parents.get(int(t), 0) for t in table["track_id"]]
                    table["parent_id"] = np.where(table["parent_id"] > 0,
                                                  table["parent_id"] + base, 0)
                    table["track_id"] += base
                    table["centroid_y"] += ys.start or 0
                    table["centroid_x"] += xs.start or 0
                    table.insert(0, "frame", f)
                    if grid:
                        table.insert(1, "well", w)
                    rows.append(table)
            tif.write(tracked.astype(np.uint32), compression="zlib", metadata=None)
            if gif:
                cents = {int(r.track_id): (r.centroid_y, r.centroid_x)
                         for t in rows[-len(boxes):] if t["frame"].iloc[0] == f
                         for r in t.itertuples()}
                overlay_frames.append(tracked_overlay(image, tracked, cents))
    n_frames = f + 1
    columns = ["frame", "track_id", "area", "centroid_y", "centroid_x", "mean_intensity", "parent_id"]
    tracks = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)
    write_csv(out / "tracks.csv", tracks)
    keys = ["frame", "well"] if grid else ["frame"]
    counts = tracks.groupby(keys).size().rename("count").reset_index() if len(tracks) else \
        pd.DataFrame({"frame": range(n_frames), "count": 0})
    if not grid:
        counts = counts.set_index("frame").reindex(range(n_frames), fill_value=0).reset_index()
    write_csv(out / "counts.csv", counts)
    plot_area_over_time(tracks, out / "area_over_time.png")
    if gif and overlay_frames:
        write_animation(overlay_frames, out)
    return tracks


def plot_area_over_time(tracks: pd.DataFrame, path: Path, *, max_tracks: int = 60) -> None:
    """Each track's area against frame (the longest ``max_tracks``), with the per-frame mean."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if len(tracks):
        longest = tracks["track_id"].value_counts().index[:max_tracks]
        for tid in longest:
            t = tracks[tracks["track_id"] == tid]
            ax.plot(t["frame"], t["area"], lw=0.8, alpha=0.5)
        mean = tracks.groupby("frame")["area"].mean()
        ax.plot(mean.index, mean.values, "k-", lw=2.5, label="mean over cells")
        ax.legend(loc="upper left")
    n = tracks["track_id"].nunique() if len(tracks) else 0
    ax.set(title=f"Cell area over time ({n} tracks; longest {min(n, max_tracks)} drawn)",
           xlabel="frame", ylabel="area (pixels)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def write_animation(frames: list[np.ndarray], out: Path, fps: float = 5.0) -> None:
    """overlay.gif always; overlay.mp4 as well when a video writer (av/ffmpeg) is installed."""
    import imageio.v3 as iio
    with atomic_path(out / "overlay.gif") as tmp:
        iio.imwrite(tmp, np.stack(frames), extension=".gif", duration=1000 / fps, loop=0)
    try:
        with atomic_path(out / "overlay.mp4") as tmp:
            iio.imwrite(tmp, np.stack([f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2]
                                       for f in frames]), extension=".mp4", fps=fps)
    except Exception as exc:  # no video plugin: the GIF is there
        print(f"note: overlay.mp4 not written ({type(exc).__name__}); install 'av' for MP4",
              file=sys.stderr)


def compare_manual(tracks: pd.DataFrame, manual_csv: str | Path, out: Path) -> dict:
    """Compare cellseg's areas with manual measurements (columns frame, area [, track]).

    Each manual series (one per ``track`` value, or one in all) is paired with the cellseg
    track over the same frames whose areas are closest (least mean relative error); reports
    Pearson correlation and mean relative error per series, and plots raw and normalized curves.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cellseg.errors import InputError
    manual = pd.read_csv(manual_csv)
    if not {"frame", "area"} <= set(manual.columns):
        raise InputError(manual_csv, "manual CSV needs columns frame and area (track optional)")
    series = manual.groupby("track") if "track" in manual.columns else [("manual", manual)]
    results = []
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, m in series:
        m = m.sort_values("frame")
        best = None
        for tid, t in tracks.groupby("track_id"):
            joined = m.merge(t[["frame", "area"]], on="frame", suffixes=("_manual", "_cellseg"))
            if len(joined) < max(2, len(m) // 2):
                continue
            mre = float(np.mean(np.abs(joined.area_cellseg - joined.area_manual) / joined.area_manual))
            if best is None or mre < best[0]:
                best = (mre, tid, joined)
        if best is None:
            results.append({"series": name, "track_id": None, "frames": 0})
            continue
        mre, tid, j = best
        r = float(np.corrcoef(j.area_manual, j.area_cellseg)[0, 1]) if len(j) > 2 else float("nan")
        results.append({"series": name, "track_id": int(tid), "frames": len(j),
                        "pearson_r": r, "mean_relative_error": mre})
        axes[0].plot(j.frame, j.area_manual, "o-", label=f"manual {name}")
        axes[0].plot(j.frame, j.area_cellseg, "s--", label=f"cellseg track {tid}")
        axes[1].plot(j.frame, j.area_manual / j.area_manual.iloc[0], "o-", label=f"manual {name}")
        axes[1].plot(j.frame, j.area_cellseg / j.area_cellseg.iloc[0], "s--",
                     label=f"cellseg track {tid}")
    axes[0].set(title="Area: manual vs cellseg", xlabel="frame", ylabel="area (pixels)")
    axes[1].set(title="Area normalized to the first frame", xlabel="frame", ylabel="area / first")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out / "compare_manual.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    table = pd.DataFrame(results)
    write_csv(out / "compare_manual.csv", table)
    return {"series": results}
