"""Network outputs -> label image: seeded watershed on the predicted centre distance."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage import segmentation


@dataclass
class InstanceParams:
    """Post-processing thresholds; tuned on validation data and stored with a model."""

    prob_threshold: float = 0.5   # foreground probability above which a pixel is an object
    seed_threshold: float = 0.5   # centre distance (0..1) above which a pixel seeds an object
    min_size: int = 10            # objects smaller than this (pixels) are removed
    smooth: float = 0.0           # Gaussian sigma (pixels) applied to the centre distance first
    min_relative: float = 0.0     # objects smaller than this fraction of the image's median
                                  # object area are removed (fragments, at any magnification)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "InstanceParams":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def remove_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Copy of ``labels`` with objects of fewer than ``min_size`` pixels set to 0."""
    sizes = np.bincount(labels.ravel())
    small = sizes < min_size
    small[0] = False
    return np.where(small[labels], 0, labels)


def remove_relatively_small(labels: np.ndarray, fraction: float) -> np.ndarray:
    """Copy of ``labels`` without objects smaller than ``fraction`` x the median object area."""
    sizes = np.bincount(labels.ravel())[1:]
    sizes = sizes[sizes > 0]
    if fraction <= 0 or not len(sizes):
        return labels
    return remove_small(labels, int(fraction * np.median(sizes)))


def probs_to_labels(probs: np.ndarray, params: InstanceParams | None = None) -> np.ndarray:
    """(2, H, W) probabilities (foreground, centre distance) -> (H, W) int32 labels.

    Seeds are the connected regions where the centre distance exceeds ``seed_threshold``; each
    grows by watershed over the foreground mask. Foreground regions without a seed become
    objects of their own. Objects under ``min_size`` pixels, then those under ``min_relative``
    times the median object area, are dropped; labels are 1..N.
    """
    p = params or InstanceParams()
    fg, dist = probs[0], probs[1]
    if p.smooth > 0:
        dist = ndi.gaussian_filter(dist, p.smooth)
    mask = fg > p.prob_threshold
    if not mask.any():
        return np.zeros(fg.shape, np.int32)
    seeds, n = ndi.label((dist > p.seed_threshold) & mask)
    labels = segmentation.watershed(-dist, seeds, mask=mask) if n else np.zeros(fg.shape, np.int32)
    lost = mask & (labels == 0)
    if lost.any():
        extra, _ = ndi.label(lost)
        labels = np.where(lost, extra + labels.max(), labels)
    if p.min_size > 1:
        labels = remove_small(labels, p.min_size)
    labels = remove_relatively_small(labels, p.min_relative)
    labels, _, _ = segmentation.relabel_sequential(labels)
    return labels.astype(np.int32)
