"""Training targets derived from a label image.

Channel 0 is the foreground; channel 1 is each object's distance to its own border, scaled to
1 at the object's centre. Touching objects are separated in channel 1 (the distance falls to 0
at the line where they meet), which is what lets the instance step split them. The
``boundary`` representation adds channel 2: each object's inner rim (pixels within a few
pixels of anything that is not the same object), whose complement splits an image into one
interior region per object that follows the object's shape, however irregular. The ``flows``
representation adds channels 2-3 instead: at each object pixel, the unit vector (y, x) of the
shortest path inside the object to the object's centre, stored as (v + 1) / 2 so that all
outputs are probabilities; following it brings every pixel of one object, however spread or
bent, to one sink (as Cellpose's flows do, with a geodesic distance instead of diffusion).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


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


def separation_weight(labels: np.ndarray, weight: float = 5.0, sigma: float = 3.0) -> np.ndarray:
    """(H, W) float32 loss weight: 1 plus ``weight`` * exp(-d^2 / 2 sigma^2), d being the
    distance (pixels) to the nearest line where two objects touch. Emphasises the thin gaps
    the network must learn to split touching nuclei; all ones where no objects touch."""
    return near_lines(touching_borders(labels), weight, sigma)


def near_lines(lines: np.ndarray, weight: float, sigma: float) -> np.ndarray:
    """(H, W) float32: 1 plus ``weight`` * exp(-d^2 / 2 sigma^2), d the distance (pixels) to
    the nearest pixel of the (H, W) bool ``lines``; all ones without lines or weight."""
    if weight <= 0 or not lines.any():
        return np.ones(lines.shape, np.float32)
    d = ndi.distance_transform_edt(~lines)
    return (1.0 + weight * np.exp(-(d ** 2) / (2 * sigma ** 2))).astype(np.float32)


def edge_weight(labels: np.ndarray, weight: float = 3.0, sigma: float = 2.0) -> np.ndarray:
    """(H, W) float32 loss weight: 1 plus ``weight`` * exp(-d^2 / 2 sigma^2), d being the
    distance (pixels) to the nearest object edge (against the background or another object),
    on both sides of it. Emphasises the outline itself, where a whole-cell mask gains or
    loses most of its IoU; all ones in an image without objects."""
    from skimage.segmentation import find_boundaries
    return near_lines(find_boundaries(labels, mode="thick"), weight, sigma)


BOUNDARY_WIDTH = 2  # pixels of an object's rim that are "boundary"

REPRESENTATIONS = {"distance": ["foreground", "centre_distance"],
                   "boundary": ["foreground", "centre_distance", "boundary"],
                   "flows": ["foreground", "centre_distance", "flow_y", "flow_x"]}


def object_rims(labels: np.ndarray, width: int = BOUNDARY_WIDTH) -> np.ndarray:
    """(H, W) float32: 1 on object pixels within ``width`` pixels (chessboard distance) of a
    pixel of another label or of the background, 0 elsewhere."""
    labels = np.asarray(labels)
    size = 2 * width + 1
    hi = ndi.maximum_filter(labels, size=size, mode="nearest")
    lo = ndi.minimum_filter(labels, size=size, mode="nearest")
    return ((labels > 0) & ((hi != labels) | (lo != labels))).astype(np.float32)


def object_centre(inside: np.ndarray) -> tuple[int, int]:
    """(row, col) of a (h, w) bool object mask's centre: of the pixels at least half the
    object's largest distance from its edge, the one nearest the median of its pixels, so the
    centre lies well inside even a bent or hollow object."""
    edt = ndi.distance_transform_edt(np.pad(inside, 1))[1:-1, 1:-1]
    rows, cols = np.nonzero(edt >= 0.5 * edt.max())
    all_rows, all_cols = np.nonzero(inside)
    d2 = (rows - np.median(all_rows)) ** 2 + (cols - np.median(all_cols)) ** 2
    i = int(np.argmin(d2))
    return int(rows[i]), int(cols[i])


def flow_field(labels: np.ndarray) -> np.ndarray:
    """(2, H, W) float32 unit vectors (y, x): at each object pixel, the direction in which
    the geodesic distance (path length inside the object) to the object's centre
    (:func:`object_centre`) falls fastest; 0 on the background and at the centres. An object
    in several pieces gets a centre per piece."""
    from skimage.graph import MCP_Geometric
    labels = np.asarray(labels)
    out = np.zeros((2,) + labels.shape, np.float32)
    for i, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        box = tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in box)
        pieces, n = ndi.label(labels[box] == i)
        for k in range(1, n + 1):
            inside = pieces == k
            if inside.sum() < 2:
                continue
            mcp = MCP_Geometric(np.where(inside, 1.0, np.inf), fully_connected=True)
            dist, _ = mcp.find_costs([object_centre(inside)])
            dist = np.where(inside, dist, dist[inside].max() + 1.0)  # edges: flow points in
            gy, gx = np.gradient(dist)
            norm = np.hypot(gy, gx)
            norm[norm == 0] = 1.0
            for c, g in enumerate((gy, gx)):
                out[c][box][inside] = -(g / norm)[inside]
    return out


def make_targets(labels: np.ndarray, separation: float = 0.0,
                 representation: str = "distance", edge: float = 0.0) -> np.ndarray:
    """(C, H, W) float32 targets: the channels of ``REPRESENTATIONS[representation]``
    (foreground, centre distance[, object rims | flows y, x as (v + 1) / 2]); with
    ``separation`` > 0 one more channel holds :func:`separation_weight` for the
    centre-distance loss, and with ``edge`` > 0 a last one :func:`edge_weight` for the
    foreground loss."""
    labels = np.asarray(labels)
    channels = [(labels > 0).astype(np.float32), centre_distance(labels)]
    if representation == "boundary":
        channels.append(object_rims(labels))
    elif representation == "flows":
        channels.extend((flow_field(labels) + 1) / 2)
    if separation > 0:
        channels.append(separation_weight(labels, separation))
    if edge > 0:
        channels.append(edge_weight(labels, edge))
    return np.stack(channels)
