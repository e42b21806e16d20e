"""Object size: rescale an image so its objects have the size the model was trained on.

A network sees objects best at about the size it learnt them (a model's ``object_diameter``,
in pixels). Images taken at another magnification are resized by ``model diameter / image
diameter`` before prediction, and the probabilities resized back, so labels and measurements
stay in the image's own pixels. The image diameter is given by the user or measured from a
first pass at the native size (``"auto"``), and measured again at the size that pass chose
(``TrainedModel.auto_passes``).
"""
from __future__ import annotations

import numpy as np

TOLERANCE = 1.75          # no rescaling while objects are within 1.75x of the model's size
FACTOR_LIMITS = (0.25, 4.0)
MIN_OBJECTS = 3           # "auto" trusts a first pass with at least this many objects
MAX_PIXELS = 64_000_000   # an image is never enlarged beyond this many pixels
REFINE_TOLERANCE = 1.25   # "auto": measured again at the chosen size, one more pass while the
AUTO_PASSES = 3           # new measure is off by more than this; at most this many passes


def object_diameter(labels: np.ndarray, min_objects: int = 1) -> float | None:
    """Typical object diameter (pixels) of a label image: the equivalent-circle diameter of the
    object that holds the median foreground pixel (an area-weighted median, so fragments
    and specks count little). None when there are fewer than ``min_objects`` objects."""
    areas = np.bincount(np.asarray(labels).ravel())[1:]
    areas = np.sort(areas[areas > 0])
    if len(areas) < max(1, min_objects):
        return None
    cum = np.cumsum(areas)
    median = areas[np.searchsorted(cum, cum[-1] / 2)]
    return float(np.sqrt(4 * median / np.pi))


def typical_diameter(label_images) -> float | None:
    """Median of :func:`object_diameter` over label images (pixels), e.g. a training set's."""
    ds = [d for d in map(object_diameter, label_images) if d is not None]
    return float(np.median(ds)) if ds else None


def check_diameter(diameter: float | str | None) -> float | None:
    """``diameter`` as a positive number or None; ValueError for anything else but "auto"."""
    if diameter is None:
        return None
    try:
        d = float(diameter)
    except (TypeError, ValueError):
        raise ValueError(f"diameter must be a number of pixels or 'auto', got {diameter!r}")
    if not d > 0:
        raise ValueError(f"diameter must be positive, got {diameter!r}")
    return d


def scale_factor(diameter: float | None, model_diameter: float | None,
                 shape: tuple[int, int] | None = None) -> float:
    """Resize factor taking objects of ``diameter`` px to ``model_diameter`` px; 1.0 when they
    are within :data:`TOLERANCE` x of it or a size is unknown; clipped to ``FACTOR_LIMITS``,
    and for an image of ``shape`` (H, W) to at most ``MAX_PIXELS`` after resizing."""
    if not diameter or not model_diameter or diameter <= 0:
        return 1.0
    f = model_diameter / diameter
    if max(f, 1 / f) <= TOLERANCE:
        return 1.0
    f = float(np.clip(f, *FACTOR_LIMITS))
    if shape is not None and f > 1:
        f = max(1.0, min(f, float(np.sqrt(MAX_PIXELS / (shape[0] * shape[1])))))
    return f


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(C, H, W) float32 -> (C, *shape) float32, bilinear; smoothed first when shrinking."""
    from skimage.transform import resize as sk_resize
    shrink = shape[0] < image.shape[1] or shape[1] < image.shape[2]
    return sk_resize(image, (image.shape[0], *shape), order=1, mode="reflect",
                     anti_aliasing=shrink, preserve_range=True).astype(np.float32)


def scaled_shape(shape: tuple[int, int], factor: float) -> tuple[int, int]:
    """(H, W) of an image of ``shape`` resized by ``factor`` (at least 16 x 16)."""
    return max(16, round(shape[0] * factor)), max(16, round(shape[1] * factor))
