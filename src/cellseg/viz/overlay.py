"""Pictures for a person: object outlines drawn over the image."""
from __future__ import annotations

import numpy as np
from skimage.segmentation import find_boundaries

from cellseg.core.preprocess import percentile_normalize, to_gray


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


ERROR_COLOURS = {"matched": (77, 175, 74), "extra": (55, 126, 184), "missed": (228, 26, 28),
                 "merged": (255, 127, 0), "split": (197, 27, 138)}


def error_overlay(image: np.ndarray | None, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: the kinds of error at IoU 0.5 (:func:`cellseg.core.metrics.error_map`)
    painted over a dimmed image: missed red, extra blue, merged orange, split pink, matched
    objects outlined green."""
    from cellseg.core.metrics import error_map
    base = display_rgb(image) if image is not None else np.zeros(truth.shape + (3,), np.uint8)
    errors = error_map(truth, pred)
    out = (base * 0.6).astype(np.uint8)
    for kind, colour in ERROR_COLOURS.items():
        mask = errors[kind]
        if kind == "matched":
            mask = mask & find_boundaries(pred, mode="inner")
        out[mask] = colour
    return out


# 3x5 bitmap digits, rows top to bottom, for drawing track ids without a font library
_DIGITS = {
    "0": ("111", "101", "101", "101", "111"), "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"), "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"), "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"), "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"), "9": ("111", "101", "111", "001", "111"),
}
_GLYPHS = {d: np.array([[c == "1" for c in row] for row in rows]) for d, rows in _DIGITS.items()}


def draw_number(rgb: np.ndarray, number: int, y: float, x: float,
                color: tuple[int, int, int] = (255, 255, 255), scale: int = 2) -> None:
    """Draw ``number`` centred at (y, x) on an (H, W, 3) uint8 image, in place, with a dark
    outline so it reads on any background."""
    glyphs = [np.kron(_GLYPHS[c], np.ones((scale, scale), bool)) for c in str(int(number))]
    gap = np.zeros((5 * scale, scale), bool)
    text = np.hstack([g for pair in zip(glyphs, [gap] * len(glyphs)) for g in pair][:-1])
    h, w = text.shape
    y0, x0 = int(round(y - h / 2)), int(round(x - w / 2))
    halo = np.zeros((h + 2, w + 2), bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            halo[dy:dy + h, dx:dx + w] |= text
    for mask, col, oy, ox in ((halo, (0, 0, 0), y0 - 1, x0 - 1), (text, color, y0, x0)):
        ys, xs = np.nonzero(mask)
        ys, xs = ys + oy, xs + ox
        ok = (ys >= 0) & (ys < rgb.shape[0]) & (xs >= 0) & (xs < rgb.shape[1])
        rgb[ys[ok], xs[ok]] = col


def track_colour(track_id: int) -> tuple[int, int, int]:
    """A bright colour that stays the same for a track id across frames."""
    rng = np.random.default_rng(int(track_id) * 7919)
    c = rng.integers(60, 256, 3)
    c[rng.integers(3)] = 255
    return tuple(int(v) for v in c)


def tracked_overlay(image: np.ndarray, tracked: np.ndarray, centroids: dict[int, tuple],
                    max_side: int = 512) -> np.ndarray:
    """(h, w, 3) uint8 frame of an animation: outlines coloured by track, ids drawn.

    Downscaled so the longer side is at most ``max_side`` pixels (animations stay small).
    """
    step = max(1, int(np.ceil(max(tracked.shape) / max_side)))
    rgb = display_rgb(image)[::step, ::step].copy()
    lab = tracked[::step, ::step]
    edges = find_boundaries(lab, mode="inner")
    if edges.any():
        ids = lab[edges]
        colours = np.array([track_colour(i) for i in range(int(ids.max()) + 1)], np.uint8) \
            if ids.max() < 5000 else None
        rgb[edges] = colours[ids] if colours is not None else (255, 255, 0)
    for tid, (cy, cx) in centroids.items():
        draw_number(rgb, tid, cy / step, cx / step, scale=1 if step > 1 else 2)
    return rgb
