"""Training targets derived from a label image.

Channel 0 is the foreground; channel 1 is each object's distance to its own border, scaled to
1 at the object's centre. Touching objects are separated in channel 1 (the distance falls to 0
at the line where they meet), which is what lets the instance step split them.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

CHANNELS = ("foreground", "centre_distance")


def touching_borders(labels: np.ndarray) -> np.ndarray:
    """(H, W) bool: object pixels with a 4-neighbour of another, non-zero label."""
    out = np.zeros(labels.shape, bool)
    for axis in (0, 1):
        a = labels
        b = np.roll(labels, -1, axis=axis)
        diff = (a != b) & (a > 0) & (b > 0)
        if axis == 0:
            diff[-1, :] = False
        else:
            diff[:, -1] = False
        out |= diff
        out |= np.roll(diff, 1, axis=axis)
    return out


def centre_distance(labels: np.ndarray) -> np.ndarray:
    """(H, W) float32: distance to the object's border divided by the object's maximum (0..1)."""
    inside = (labels > 0) & ~touching_borders(labels)
    if not inside.any():
        return np.zeros(labels.shape, np.float32)
    dist = ndi.distance_transform_edt(inside).astype(np.float32)
    n = int(labels.max())
    peak = np.zeros(n + 1, np.float32)
    ids = np.arange(1, n + 1)
    peak[1:] = ndi.maximum(dist, labels, ids)
    peak[peak == 0] = 1.0
    return dist / peak[labels]


def make_targets(labels: np.ndarray) -> np.ndarray:
    """(2, H, W) float32 targets: foreground and centre distance."""
    labels = np.asarray(labels)
    return np.stack([(labels > 0).astype(np.float32), centre_distance(labels)])
