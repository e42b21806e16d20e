"""Plates of wells: split a frame into a grid and blank what lies outside each well."""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import flood

from cellseg.core.preprocess import percentile_normalize, to_gray


def parse_grid(text: str) -> tuple[int, int]:
    """'4x4' -> (4, 4) rows x columns."""
    try:
        r, c = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"grid must look like 4x4 (rows x columns), got {text!r}") from None
    if r < 1 or c < 1:
        raise ValueError(f"grid needs at least 1x1, got {text!r}")
    return r, c


def grid_boxes(shape: tuple[int, int], rows: int, cols: int) -> list[tuple[slice, slice]]:
    """(row slice, column slice) of each grid cell, row by row."""
    ys = np.linspace(0, shape[0], rows + 1).round().astype(int)
    xs = np.linspace(0, shape[1], cols + 1).round().astype(int)
    return [(slice(ys[i], ys[i + 1]), slice(xs[j], xs[j + 1]))
            for i in range(rows) for j in range(cols)]


def outside_mask(image: np.ndarray, tolerance: float = 0.1) -> np.ndarray:
    """(H, W) bool: the background connected to the image corners (outside a well).

    A flood fill from each corner over pixels within ``tolerance`` (fraction of the 1-99.8 %
    range) of the corner's smoothed value. If the flood takes nearly everything (no well wall
    stops it), nothing is marked.
    """
    x = ndi.gaussian_filter(percentile_normalize(to_gray(image)), 1)
    h, w = x.shape
    mask = np.zeros((h, w), bool)
    for seed in ((0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)):
        if not mask[seed]:
            mask |= flood(x, seed, tolerance=tolerance)
    if mask.mean() > 0.9:
        return np.zeros((h, w), bool)
    return ndi.binary_dilation(mask, iterations=2)  # the wall edge, blurred by smoothing


def fill_background(image: np.ndarray) -> np.ndarray:
    """Copy of a well image with the outside (see :func:`outside_mask`) set to the inside mean."""
    out = np.array(image, dtype=np.float32, copy=True)
    outside = outside_mask(image)
    if outside.any() and (~outside).any():
        out[outside] = out[~outside].mean(axis=0)
    return out
