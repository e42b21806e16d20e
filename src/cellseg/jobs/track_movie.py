"""The ``cellseg track`` job: segment every frame of a movie, link cells, write the results.

Outputs in OUT: ``tracked.tif`` (one page per frame, same id = same cell), ``tracks.csv``
(one row per cell per frame), ``counts.csv``, ``area_over_time.png`` and ``overlay.gif``
(``overlay.mp4`` too when a video writer is installed). Frames are streamed: only the current
and previous frame are held, whatever the length of the movie (the GIF holds its downscaled
frames until it is written).
"""
from __future__ import annotations

import sys
from itertools import islice
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from cellseg.core.tracking import TRACK_COLUMNS, track_frames
from cellseg.io.movies import open_movie
from cellseg.io.write import atomic_path, write_csv
from cellseg.viz.overlay import tracked_overlay
from cellseg.viz.plots import area_over_time, manual_vs_tracks, save


def run_track(movie_path: str | Path, out: str | Path, segmenter: Callable | None, *,
              grid: tuple[int, int] | None = None, fill_wells: bool = True,
              channel: int | None = None, quiet: bool = False, gif: bool = True,
              max_frames: int | None = None, **tracker_options) -> pd.DataFrame:
    """Segment and track a movie (its first ``max_frames`` frames if given), write the outputs,
    return the tracks table.

    segmenter : a :class:`cellseg.segmenter.Segmenter` (built with ``same_scale=True`` so the
        whole movie keeps one model and scale), or None when the movie holds label images.
    grid, fill_wells, tracker_options : see :func:`cellseg.core.tracking.track_frames`.
    """
    import tifffile
    from tqdm import tqdm
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    movie = open_movie(movie_path, channel=channel)
    frames = islice(movie, max_frames) if max_frames else iter(movie)
    total = min(filter(None, (movie.length, max_frames)), default=None)
    segment = None if segmenter is None else (lambda image: segmenter(image).labels)
    rows: list[pd.DataFrame] = []
    overlay_frames = []
    current: list[np.ndarray] = []  # the frame being tracked, for its overlay

    def keep(frames):
        for image in frames:
            current[:] = [image]
            yield image
    with atomic_path(out / "tracked.tif") as tmp, tifffile.TiffWriter(tmp, bigtiff=True) as tif:
        steps = track_frames(keep(frames), segment, grid=grid, fill_wells=fill_wells,
                             **tracker_options)
        for tracked, table in tqdm(steps, total=total, desc="tracking", unit="frame",
                                   disable=quiet):
            tif.write(tracked.astype(np.uint32), compression="zlib", metadata=None)
            rows.append(table)
            if gif:
                cents = {int(r.track_id): (r.centroid_y, r.centroid_x) for r in table.itertuples()}
                overlay_frames.append(tracked_overlay(current[0], tracked, cents))
    tracks = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=TRACK_COLUMNS)
    write_csv(out / "tracks.csv", tracks)
    write_csv(out / "counts.csv", frame_counts(tracks, len(rows), grid is not None))
    save(area_over_time(tracks), out / "area_over_time.png")
    if gif and overlay_frames:
        write_animation(overlay_frames, out)
    return tracks


def frame_counts(tracks: pd.DataFrame, n_frames: int, wells: bool) -> pd.DataFrame:
    """Objects per frame (per frame and well with ``wells``); frames with none count 0."""
    keys = ["frame", "well"] if wells else ["frame"]
    if not len(tracks):
        return pd.DataFrame({"frame": range(n_frames), "count": 0})
    counts = tracks.groupby(keys).size().rename("count").reset_index()
    if wells:
        return counts
    return counts.set_index("frame").reindex(range(n_frames), fill_value=0).reset_index()


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
    from cellseg.errors import InputError
    manual = pd.read_csv(manual_csv)
    if not {"frame", "area"} <= set(manual.columns):
        raise InputError(manual_csv, "manual CSV needs columns frame and area (track optional)")
    series = manual.groupby("track") if "track" in manual.columns else [("manual", manual)]
    results, pairs = [], []
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
        pairs.append((name, int(tid), j))
    save(manual_vs_tracks(pairs), out / "compare_manual.png")
    table = pd.DataFrame(results)
    write_csv(out / "compare_manual.csv", table)
    return {"series": results}
