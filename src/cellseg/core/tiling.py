"""Sliding-window inference over images of any size, with smooth blending of overlapping tiles.

:func:`sliding_window` knows nothing of files or models: it takes a callable that maps a batch
of tiles to outputs. Tiles overlap and are blended with a Gaussian weight that is highest in
the tile centre, so no seam shows where tiles meet; memory is bounded by the output itself plus
one batch of tiles.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

# An image up to 1024 x 1024 is predicted whole (one tile): cheaper than overlapping tiles
# and free of seams; larger ones in 1024-pixel tiles sharing 128 pixels.
DEFAULT_TILE = 1024
DEFAULT_OVERLAP = 128


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step)) + [length - tile]
    return sorted(set(starts))


def gaussian_weight(height: int, width: int, sigma_scale: float = 0.125) -> np.ndarray:
    """(height, width) float32 blending weight: a Gaussian peaked in the centre (1.0), floored
    at 1e-3 so that tile edges still count where no other tile covers them."""
    def g(n):
        r = np.arange(n, dtype=np.float32) - (n - 1) / 2
        return np.exp(-0.5 * (r / (sigma_scale * n)) ** 2)
    return np.maximum(np.outer(g(height), g(width)), 1e-3).astype(np.float32)


def sliding_window(image: np.ndarray, predictor: Callable[[np.ndarray], np.ndarray], *,
                   out_channels: int, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
                   batch_size: int = 2,
                   multiple: int = 16, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Predict a (C_in, H, W) float32 image tile by tile; returns (out_channels, H, W) float32.

    predictor : maps (N, C_in, t, t) float32 tiles to (N, out_channels, t, t) outputs.
    tile : tile side in pixels (rounded up to ``multiple``); images smaller than a tile are
        predicted whole (padded by mirroring to a multiple of ``multiple``).
    overlap : pixels shared by neighbouring tiles, 0 <= overlap < tile.
    progress : called with the number of tiles done after each batch.
    """
    if image.ndim != 3:
        raise ValueError(f"image must be (C, H, W), got shape {image.shape}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got overlap={overlap}, tile={tile}")
    tile = -(-tile // multiple) * multiple
    c, h, w = image.shape
    # small images: one tile of the image's own (padded) size
    th = min(tile, -(-h // multiple) * multiple)
    tw = min(tile, -(-w // multiple) * multiple)
    ph, pw = max(h, th), max(w, tw)
    if (ph, pw) != (h, w):
        image = np.pad(image, ((0, 0), (0, ph - h), (0, pw - w)), mode="reflect"
                       if min(h, w) > 1 else "edge")
    weight = gaussian_weight(th, tw)
    out = np.zeros((out_channels, ph, pw), np.float32)
    norm = np.zeros((ph, pw), np.float32)
    corners = [(y, x) for y in _starts(ph, th, th - min(overlap, th - 1))
               for x in _starts(pw, tw, tw - min(overlap, tw - 1))]
    for i in range(0, len(corners), batch_size):
        batch = corners[i:i + batch_size]
        tiles = np.stack([image[:, y:y + th, x:x + tw] for y, x in batch])
        pred = np.asarray(predictor(tiles), dtype=np.float32)
        for (y, x), p in zip(batch, pred):
            out[:, y:y + th, x:x + tw] += p * weight
            norm[y:y + th, x:x + tw] += weight
        if progress:
            progress(len(batch))
    out /= norm
    return out[:, :h, :w]


def tta_predictor(predictor: Callable[[np.ndarray], np.ndarray],
                  vectors: tuple[int, int] | None = None) -> Callable:
    """Wrap a predictor with test-time augmentation: mean over the 8 flips/90° rotations.

    vectors : output channels (y, x) that hold a vector field as (v + 1) / 2 (flows): they
        are turned back with the image, so that the mean is taken in the image's frame.
    """
    def predict(tiles: np.ndarray) -> np.ndarray:
        acc = None
        for k in range(4):
            for flip in (False, True):
                t = np.rot90(tiles, k, axes=(2, 3))
                t = t[..., ::-1] if flip else t
                p = np.array(predictor(np.ascontiguousarray(t)), np.float32)
                if vectors is not None:
                    vy, vx = 2 * p[:, vectors[0]] - 1, 2 * p[:, vectors[1]] - 1
                    vx = -vx if flip else vx
                    for _ in range(k):  # undo one quarter turn: (y, x) -> (x, -y)
                        vy, vx = vx, -vy
                    p[:, vectors[0]], p[:, vectors[1]] = (vy + 1) / 2, (vx + 1) / 2
                p = p[..., ::-1] if flip else p
                p = np.rot90(p, -k, axes=(2, 3))
                acc = p if acc is None else acc + p
        return acc / 8
    return predict
