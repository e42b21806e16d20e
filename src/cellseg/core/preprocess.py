"""Normalization and channel handling: any image -> float32 (H, W) in about [0, 1]
(or (C, H, W) for the ``"rgb"`` and ``"hematoxylin_eosin"`` inputs of colour models).

Both the classical pipeline and the network see images prepared here, at training and at
prediction time alike, with the settings stored in the model file.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_PERCENTILES = (1.0, 99.8)


def intensity_range(image: np.ndarray, low: float = DEFAULT_PERCENTILES[0],
                    high: float = DEFAULT_PERCENTILES[1]) -> tuple[float, float]:
    """(lo, hi): the ``low``/``high`` percentiles, falling back to min..max when they coincide
    (nearly empty images); NaN/inf pixels are ignored."""
    x = np.asarray(image, dtype=np.float32)
    finite = np.isfinite(x)
    if not finite.all():
        x = x[finite] if finite.any() else np.zeros(1, np.float32)
    lo, hi = (float(v) for v in np.percentile(x, [low, high]))
    if hi - lo < 1e-6 * max(1.0, abs(hi)):
        lo, hi = float(x.min()), float(x.max())
    return lo, hi


def scale(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(image - lo) / (hi - lo) as float32; all zeros when hi == lo; NaN/inf become 0."""
    x = np.asarray(image, dtype=np.float32)
    if hi - lo < 1e-12:
        return np.zeros(x.shape, np.float32)
    y = (x - np.float32(lo)) / np.float32(hi - lo)
    return np.where(np.isfinite(y), y, np.float32(0)).astype(np.float32, copy=False)


def percentile_normalize(image: np.ndarray, low: float = DEFAULT_PERCENTILES[0],
                         high: float = DEFAULT_PERCENTILES[1]) -> np.ndarray:
    """Scale so that the ``low``/``high`` percentiles map to 0/1; float32, same shape.

    Safe for 16-bit and float input, nearly empty images (the range falls back to min..max) and
    constant images (all zeros): never NaN, never a division by zero. Values are not clipped,
    so bright objects may exceed 1.
    """
    return scale(image, *intensity_range(image, low, high))


def is_color(image: np.ndarray) -> bool:
    """True for an (H, W, C) image whose channels differ (e.g. H&E); False for gray stored as RGB."""
    if image.ndim == 2 or image.shape[-1] == 1:
        return False
    first = image[..., :1]
    return bool(np.any(image[..., 1:3] != first))


def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) -> (H, W) float32 (luminance for RGB, mean for other channel counts)."""
    x = np.asarray(image)
    if x.ndim == 2:
        return x.astype(np.float32)
    if x.shape[-1] == 1:
        return x[..., 0].astype(np.float32)
    if x.shape[-1] >= 3:
        w = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return x[..., :3].astype(np.float32) @ w
    return x.astype(np.float32).mean(axis=-1)


def _stain_densities(image: np.ndarray) -> np.ndarray:
    """(H, W, 3+) colour -> (H, W, 3) float32 hematoxylin, eosin and DAB optical densities
    (``skimage.color.rgb2hed``); 8/16-bit input is read as fractions of full scale, float input
    scaled by its own min..max."""
    from skimage.color import rgb2hed
    rgb = np.asarray(image)[..., :3]
    if rgb.dtype == np.uint8 or rgb.dtype == np.uint16:
        rgb = rgb.astype(np.float32) / np.iinfo(rgb.dtype).max
    else:
        lo, hi = intensity_range(rgb, 0.0, 100.0)
        rgb = scale(rgb, lo, hi)
    return rgb2hed(np.clip(rgb, 0, 1)).astype(np.float32)


def hematoxylin_eosin(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB stained tissue -> (2, H, W) float32 hematoxylin and eosin optical
    densities (colour deconvolution of Ruifrok & Johnston, ``skimage.color.rgb2hed``): the
    nuclear stain, and the counterstain of cytoplasm, stroma and red blood cells that tells
    them from nuclei.

    Gray input (2-D, or channels that do not differ) has no stains to separate: its nuclei are
    made bright as a stain would make them, by inverting images with a bright background
    (brightfield) and keeping those with a dark one (fluorescence) as they are; the eosin plane
    is zeros.
    """
    x = np.asarray(image)
    if not is_color(x) or x.shape[-1] < 3:
        g = to_gray(x)
        if g.size and has_bright_background(g):
            g = (g.max() - g).astype(np.float32)
        return np.stack([g, np.zeros_like(g)])
    return np.ascontiguousarray(np.moveaxis(_stain_densities(x)[..., :2], -1, 0))


def hematoxylin(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB stained tissue -> (H, W) float32 hematoxylin optical density, the nuclear
    stain: the first plane of :func:`hematoxylin_eosin` (gray input as described there)."""
    return hematoxylin_eosin(image)[0]


def rgb_planes(image: np.ndarray) -> np.ndarray:
    """(H, W, 3+) colour -> (3, H, W) float32 red, green, blue planes; gray input (2-D, or
    one channel) is repeated in all three."""
    x = np.asarray(image)
    if x.ndim == 2 or x.shape[-1] < 3:
        return np.repeat(to_gray(x)[None], 3, axis=0)
    return np.moveaxis(x[..., :3], -1, 0).astype(np.float32)


CHANNELS = {"gray": to_gray, "hematoxylin": hematoxylin, "hematoxylin_eosin": hematoxylin_eosin,
            "rgb": rgb_planes}
IN_CHANNELS = {"gray": 1, "hematoxylin": 1, "hematoxylin_eosin": 2, "rgb": 3}  # input planes


def to_channel(image: np.ndarray, channel: str = "gray") -> np.ndarray:
    """What a model reads of an image, as float32: ``"gray"`` (luminance, (H, W)),
    ``"hematoxylin"`` (stain-deconvolved nuclear channel of RGB tissue, (H, W)),
    ``"hematoxylin_eosin"`` (its nuclear and counterstain channels, (2, H, W)) or ``"rgb"``
    ((3, H, W) colour planes)."""
    try:
        return CHANNELS[channel](image)
    except KeyError:
        raise ValueError(f"unknown input channel {channel!r}; choose {', '.join(CHANNELS)}") from None


def has_bright_background(gray: np.ndarray) -> bool:
    """True when objects are dark on a bright background (brightfield, H&E).

    The background is taken to be the larger part of the image: if the median lies above the
    middle of the 1-99 % intensity range, most pixels are bright, so objects are the dark ones.
    """
    lo, med, hi = np.percentile(gray, [1, 50, 99])
    if hi - lo < 1e-12:
        return False
    return bool((med - lo) / (hi - lo) > 0.5)


PER_PLANE = {"hematoxylin_eosin"}  # channels whose planes are each mapped to their own range


@dataclass(frozen=True)
class Normalization:
    """Intensity mapping of one image: (x - lo) / (hi - lo), then 1 - x if ``invert``; ``lo``
    and ``hi`` are floats, or one per plane (tuples) for the channels in :data:`PER_PLANE`."""

    lo: float | tuple[float, ...]
    hi: float | tuple[float, ...]
    invert: bool

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(H, W) or (C, H, W) float32 ``x`` mapped by this normalization."""
        if isinstance(self.lo, tuple):
            y = np.stack([scale(p, lo, hi) for p, lo, hi in zip(x, self.lo, self.hi)])
        else:
            y = scale(x, self.lo, self.hi)
        return 1.0 - y if self.invert else y


def _normalization_of(x: np.ndarray, invert: str | bool, percentiles: tuple[float, float],
                      per_plane: bool) -> Normalization:
    """The :class:`Normalization` of ``x``, an image already read as a model's channel."""
    if per_plane:
        lo, hi = (tuple(v) for v in zip(*(intensity_range(p, *percentiles) for p in x)))
    else:
        lo, hi = intensity_range(x, *percentiles)
    flip = has_bright_background(x) if invert == "auto" else bool(invert)
    return Normalization(lo, hi, flip)


def fit_normalization(image: np.ndarray, *, invert: str | bool = "auto",
                      percentiles: tuple[float, float] = DEFAULT_PERCENTILES,
                      channel: str = "gray") -> Normalization:
    """The normalization :func:`prepare` applies to ``image`` (or to a subsample of a huge
    image, so that every block of it is prepared the same way)."""
    return _normalization_of(to_channel(image, channel), invert, percentiles, channel in PER_PLANE)


def check_gamma(gamma: float) -> float:
    """``gamma`` as a float if it is a usable input gamma (0 < gamma <= 3), else ValueError."""
    if not 0 < float(gamma) <= 3:
        raise ValueError(f"gamma must be in (0, 3], got {gamma!r}")
    return float(gamma)


def compress(x: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """A prepared image's intensities raised to ``gamma`` (after clipping below 0), the last
    step of a model's input: with ``gamma`` 0.5 (the square root, which evens out the
    photon-counting noise of fluorescence) a nucleus at 4 % of the brightest one's intensity
    stands at 20 %. ``gamma`` 1 returns ``x`` itself."""
    if gamma == 1.0:
        return x
    return (np.clip(x, 0, None) ** np.float32(gamma)).astype(np.float32, copy=False)


def prepare(image: np.ndarray, *, invert: str | bool = "auto",
            percentiles: tuple[float, float] = DEFAULT_PERCENTILES,
            norm: Normalization | None = None, channel: str = "gray") -> np.ndarray:
    """The standard input of every segmenter: (H, W) float32, objects bright, ~[0, 1]
    ((C, H, W) for the multi-plane channels: one intensity mapping for all planes of
    ``"rgb"``, one per plane for ``"hematoxylin_eosin"``).

    Parameters
    ----------
    image : (H, W) or (H, W, C) in any dtype.
    invert : "auto" (invert when objects are dark on bright), True, or False.
    percentiles : low/high percentiles mapped to 0 and 1.
    norm : a fixed normalization (from :func:`fit_normalization`) instead of this image's own.
    channel : "gray", "hematoxylin", "hematoxylin_eosin" or "rgb" (see :func:`to_channel`).
    """
    x = to_channel(image, channel)
    norm = norm or _normalization_of(x, invert, percentiles, channel in PER_PLANE)
    return norm.apply(x)

