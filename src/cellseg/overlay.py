"""Pictures for a person: object outlines drawn over the image."""
from __future__ import annotations

import numpy as np
from skimage.segmentation import find_boundaries

from cellseg.preprocess import percentile_normalize, to_gray


def display_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 view of any image: colour kept, gray contrast-stretched (1-99.8 %)."""
    if image.ndim == 3 and image.shape[-1] >= 3:
        x = np.stack([percentile_normalize(image[..., c], 0.5, 99.8) for c in range(3)], -1)
    else:
        g = percentile_normalize(to_gray(image), 1, 99.8)
        x = np.repeat(g[..., None], 3, -1)
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)


def outline_overlay(image: np.ndarray, labels: np.ndarray,
                    color: tuple[int, int, int] = (255, 255, 0)) -> np.ndarray:
    """(H, W, 3) uint8: the image with each object's outline drawn in ``color``."""
    rgb = display_rgb(image)
    edges = find_boundaries(labels, mode="inner")
    rgb[edges] = color
    return rgb
