"""Linking segmented objects over the frames of a movie.

:class:`Tracker` takes one label image per frame and returns it relabelled with track ids
(same id = same cell in every frame). Objects are matched between frames by an optimal
(Hungarian) assignment on a cost that prefers overlap (1 - IoU) and otherwise centroid
distance; a track whose cell is missed stays open for ``max_gap`` frames and is matched by
distance when the cell comes back. A new object next to a cell that shrank to a daughter's
size is recorded as a division: both daughters start new tracks whose ``parent_id`` is the
mother's track (the Cell Tracking Challenge convention). Only the previous frame is kept, so
memory does not grow with the movie.

:func:`track_frames` is the one loop behind ``cellseg.track`` and ``cellseg track``: frames (or
label images) in, tracked label images and per-object table rows out, well by well when the
frames hold a grid of wells.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from cellseg.core.metrics import contingency

NO_MATCH = 1e6


@dataclass
class Track:
    id: int
    centroid: np.ndarray
    area: float
    last_frame: int
    parent: int = 0


@dataclass
class Tracker:
    """Frame-by-frame linker. Call :meth:`update` with each frame's labels in order.

    Parameters
    ----------
    max_distance : largest centroid jump (pixels) between matched objects; None (default):
        ``search_radius`` x the median object diameter of the frame, at least 10 pixels.
    search_radius : the default ``max_distance`` in object diameters (1.5).
    max_gap : frames a track may miss and still be continued (2).
    gap_cost : added to the distance cost per missed frame, so a track seen in the previous
        frame wins over one seen earlier (0.5).
    division_ratio : (low, high) area of each daughter relative to its mother for an unmatched
        object next to a shrunken cell to count as a division ((0.2, 0.9)).
    """

    max_distance: float | None = None
    search_radius: float = 1.5
    max_gap: int = 2
    gap_cost: float = 0.5
    division_ratio: tuple[float, float] = (0.2, 0.9)
    tracks: dict[int, Track] = field(default_factory=dict)
    next_id: int = 1
    frame: int = -1
    prev: np.ndarray | None = None  # previous frame, relabelled with track ids

    def _new(self, centroid, area, parent=0) -> int:
        tid = self.next_id
        self.next_id += 1
        self.tracks[tid] = Track(tid, centroid, area, self.frame, parent)
        return tid

    def update(self, labels: np.ndarray) -> tuple[np.ndarray, dict[int, int]]:
        """Link a frame. Returns (labels relabelled with track ids, {track id: parent id})."""
        self.frame += 1
        labels = np.asarray(labels)
        ids = np.unique(labels)
        ids = ids[ids > 0]
        n = len(ids)
        index = np.zeros(int(labels.max(initial=0)) + 1, np.int64)
        index[ids] = np.arange(n)
        yy, xx = np.nonzero(labels)
        obj = index[labels[yy, xx]]
        area = np.bincount(obj, minlength=n).astype(float)
        cent = np.stack([np.bincount(obj, yy, n), np.bincount(obj, xx, n)], 1) / np.maximum(area, 1)[:, None]
        max_d = self.max_distance or (max(10.0, self.search_radius * float(
            np.median(2 * np.sqrt(area / np.pi)))) if n else 10.0)
        live = [t for t in self.tracks.values() if self.frame - t.last_frame <= self.max_gap + 1]
        assign = {}  # object index -> track id
        if live and n:
            cost = np.full((len(live), n), NO_MATCH)
            tc = np.array([t.centroid for t in live])
            dist = np.linalg.norm(tc[:, None, :] - cent[None, :, :], axis=2)
            gap = np.array([self.frame - t.last_frame - 1 for t in live], float)
            near = dist <= max_d
            cost[near] = (1 + dist / max_d + self.gap_cost * gap[:, None])[near]
            if self.prev is not None:
                table = contingency(self.prev, labels)
                inter = table[1:, ids]  # rows: track ids 1.., columns: this frame's objects
                row_of = {t.id: i for i, t in enumerate(live)}
                prev_area = table[1:, :].sum(1)
                for tid in np.nonzero(inter.sum(1))[0] + 1:
                    i = row_of.get(int(tid))
                    if i is None:
                        continue
                    ov = inter[tid - 1]
                    iou = ov / (prev_area[tid - 1] + area - ov)
                    better = (ov > 0) & (1 - iou < cost[i])
                    cost[i, better] = (1 - iou)[better]
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] < NO_MATCH:
                    assign[c] = live[r].id
        # divisions: an unmatched object near a matched track whose cell shrank
        out_ids = np.zeros(n, np.int64)
        parents: dict[int, int] = {}
        matched_by_track = {tid: c for c, tid in assign.items()}
        for c in range(n):
            if c in assign:
                continue
            mother = None
            for tid, c2 in matched_by_track.items():
                t = self.tracks[tid]
                if t.last_frame != self.frame - 1:
                    continue
                lo, hi = self.division_ratio[0] * t.area, self.division_ratio[1] * t.area
                if (np.linalg.norm(t.centroid - cent[c]) <= max_d
                        and lo <= area[c] <= hi and lo <= area[c2] <= hi):
                    mother = tid
                    break
            if mother is not None:
                c2 = matched_by_track.pop(mother)
                del assign[c2]
                for d in (c, c2):
                    out_ids[d] = self._new(cent[d], area[d], parent=mother)
                    parents[int(out_ids[d])] = mother
            elif out_ids[c] == 0:
                out_ids[c] = self._new(cent[c], area[c])
                parents[int(out_ids[c])] = 0
        for c, tid in assign.items():
            t = self.tracks[tid]
            t.centroid, t.area, t.last_frame = cent[c], area[c], self.frame
            out_ids[c] = tid
            parents[tid] = t.parent
        lut = np.zeros(len(index), np.int64)
        lut[ids] = out_ids
        tracked = lut[labels].astype(np.int32)
        self.prev = tracked
        # forget tracks closed for good
        self.tracks = {k: t for k, t in self.tracks.items()
                       if self.frame - t.last_frame <= self.max_gap + 1}
        return tracked, parents


TRACK_COLUMNS = ["frame", "track_id", "area", "centroid_y", "centroid_x", "mean_intensity",
                 "parent_id"]
WELL_OFFSET = 100_000   # track ids of well w are w * WELL_OFFSET + its own ids


def track_table(tracked: np.ndarray, image: np.ndarray | None, parents: dict[int, int],
                frame: int) -> pd.DataFrame:
    """Rows of one tracked frame: frame, track_id, area, centroid_y/x, mean_intensity (NaN
    without an image), parent_id (0: none)."""
    from cellseg.core.measure import measure
    t = measure(tracked, image)
    if "mean_intensity" not in t:
        t["mean_intensity"] = np.nan
    t = t[["label", "area", "centroid_y", "centroid_x", "mean_intensity"]].rename(
        columns={"label": "track_id"})
    t.insert(0, "frame", frame)
    t["parent_id"] = [parents.get(int(i), 0) for i in t["track_id"]]
    return t


def track_frames(frames: Iterable[np.ndarray], segment: Callable | None = None, *,
                 grid: tuple[int, int] | None = None, fill_wells: bool = True,
                 **tracker_options) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    """Link the objects of a sequence of frames; yields, frame by frame, (tracked (H, W) int32
    label image, its rows of the tracks table).

    Parameters
    ----------
    frames : images (segmented with ``segment``) or, with ``segment=None``, label images.
    segment : callable image -> (H, W) labels, e.g. ``lambda im: segmenter(im).labels``.
    grid : (rows, cols) of wells; each well is segmented (its outside filled with the well's
        mean when ``fill_wells``) and tracked on its own; ids of well w start at w x 100,000
        and the table gets a ``well`` column.
    tracker_options : :class:`Tracker` parameters (max_distance, search_radius, max_gap,
        gap_cost, division_ratio).

    Examples
    --------
    >>> a = np.zeros((20, 20), int); a[2:6, 2:6] = 1; a[12:16, 12:16] = 2
    >>> b = np.zeros((20, 20), int); b[3:7, 3:7] = 5; b[12:16, 11:15] = 9
    >>> [t["track_id"].tolist() for _, t in track_frames([a, b])]
    [[1, 2], [1, 2]]
    """
    from cellseg.core.wells import fill_background, grid_boxes
    trackers: dict[int, Tracker] = {}
    for f, frame in enumerate(frames):
        frame = np.asarray(frame)
        boxes = grid_boxes(frame.shape[:2], *grid) if grid else [(slice(None), slice(None))]
        tracked = np.zeros(frame.shape[:2], np.int32)
        tables = []
        for w, (ys, xs) in enumerate(boxes):
            part = frame[ys, xs]
            if segment is None:
                labels, image = part, None
            else:
                labels = segment(fill_background(part) if grid and fill_wells else part)
                image = part
            local, parents = trackers.setdefault(w, Tracker(**tracker_options)).update(labels)
            t = track_table(local, image, parents, f)
            if grid:
                base = w * WELL_OFFSET
                tracked[ys, xs] = np.where(local > 0, local + base, 0)
                t["track_id"] += base
                t["parent_id"] = np.where(t["parent_id"] > 0, t["parent_id"] + base, 0)
                t["centroid_y"] += ys.start or 0
                t["centroid_x"] += xs.start or 0
                t.insert(1, "well", w)
            else:
                tracked = local
            tables.append(t)
        yield tracked, pd.concat(tables, ignore_index=True)
