"""Object outlines as polygons, for the tools biologists correct segmentations in.

Coordinates follow ImageJ/Fiji and QuPath: x to the right, y down, and pixel (row r, column c)
covers the square [c, c + 1] x [r, r + 1]. An outline runs along the outer edges of an object's
pixels (traced at twice the resolution, so it cuts each pixel corner by a quarter pixel at
most), and its area matches the object's pixel count closely.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def polygon_area(points: np.ndarray) -> float:
    """Area of a closed polygon given as (N, 2) points (shoelace formula).

    Examples
    --------
    >>> polygon_area(np.array([[0, 0], [4, 0], [4, 3], [0, 3]]))
    12.0
    """
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def object_polygons(labels: np.ndarray) -> dict[int, np.ndarray]:
    """{label: (N, 2) float (x, y) outline} of every object of an (H, W) label image.

    An object in several pieces is outlined by its largest piece; holes are not traced.

    Examples
    --------
    >>> lab = np.zeros((8, 8), int); lab[2:5, 1:5] = 7           # 3 x 4 pixels
    >>> poly = object_polygons(lab)[7]
    >>> round(polygon_area(poly), 2), float(poly[:, 0].min()), float(poly[:, 0].max())
    (11.88, 1.0, 5.0)
    """
    from skimage.measure import approximate_polygon, find_contours
    out: dict[int, np.ndarray] = {}
    for index, box in enumerate(ndi.find_objects(np.asarray(labels))):
        if box is None:
            continue
        label = index + 1
        mask = np.asarray(labels)[box] == label
        pieces, n = ndi.label(mask)
        if n > 1:
            mask = pieces == 1 + int(np.argmax(np.bincount(pieces.ravel())[1:]))
        big = np.pad(np.repeat(np.repeat(mask, 2, 0), 2, 1), 1).astype(np.float32)
        contour = max(find_contours(big, 0.5), key=len)       # (row, col) in padded 2x pixels
        contour = approximate_polygon(contour, tolerance=0.01)[:-1]
        y = (contour[:, 0] - 1 + 0.5) / 2 + box[0].start
        x = (contour[:, 1] - 1 + 0.5) / 2 + box[1].start
        out[label] = np.stack([x, y], 1)
    return out
