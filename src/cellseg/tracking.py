"""Linking segmented objects over the frames of a movie.

:class:`Tracker` takes one label image per frame and returns it relabelled with track ids
(same id = same cell in every frame). Objects are matched between frames by an optimal
(Hungarian) assignment on a cost that prefers overlap (1 - IoU) and otherwise centroid
distance; a track whose cell is missed stays open for ``max_gap`` frames and is matched by
distance when the cell comes back. A new object next to a cell that shrank to a daughter's
size is recorded as a division: both daughters start new tracks whose ``parent_id`` is the
mother's track (the Cell Tracking Challenge convention). Only the previous frame is kept, so
memory does not grow with the movie.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from cellseg.metrics import contingency

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

    max_distance : largest centroid jump (pixels) between matched objects; by default 1.5x
        the median object diameter of the frame.
    max_gap : frames a track may miss before it is closed.
    """

    max_distance: float | None = None
    max_gap: int = 2
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
        max_d = self.max_distance or max(10.0, 1.5 * float(np.median(2 * np.sqrt(area / np.pi)))
                                         if n else 10.0)
        live = [t for t in self.tracks.values() if self.frame - t.last_frame <= self.max_gap + 1]
        assign = {}  # object index -> track id
        if live and n:
            cost = np.full((len(live), n), NO_MATCH)
            tc = np.array([t.centroid for t in live])
            dist = np.linalg.norm(tc[:, None, :] - cent[None, :, :], axis=2)
            gap = np.array([self.frame - t.last_frame - 1 for t in live], float)
            near = dist <= max_d
            cost[near] = (1 + dist / max_d + 0.5 * gap[:, None])[near]
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
                if (np.linalg.norm(t.centroid - cent[c]) <= max_d
                        and 0.2 * t.area <= area[c] <= 0.9 * t.area
                        and 0.2 * t.area <= area[c2] <= 0.9 * t.area):
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
