"""Random crops with joint geometric and intensity augmentation.

Geometry (flip, 90° and free rotation, zoom, shear, shift) is one affine map applied to the
image (linear interpolation) and to the label image (nearest neighbour) together, computed only
for the output crop, so a crop from a large image costs the same as one from a small image.
Targets are derived from the transformed labels afterwards, so they stay exact.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi


@dataclass
class AugmentConfig:
    """Ranges of the random augmentations; set a probability to 0 to switch one off."""

    flip: bool = True
    rotate: bool = True          # free rotation angle (degrees drawn from [0, 360))
    zoom: tuple[float, float] = (0.7, 1.4)
    shear: float = 0.1           # max shear factor
    brightness: float = 0.1      # additive, +-
    contrast: tuple[float, float] = (0.7, 1.3)
    gamma: tuple[float, float] = (0.7, 1.5)
    blur_p: float = 0.2          # probability of a Gaussian blur, sigma in [0.5, 1.5]
    noise_p: float = 0.3         # probability of Gaussian noise, sigma drawn from noise_sigma
    noise_sigma: tuple[float, float] = (0.0, 0.08)  # range of the noise's sigma (image: 0..1)
    noise_stretch: bool = False  # after noise, stretch the crop to its 1-99.8 percentiles as
                                 # the model's input normalization does with a noisy image
                                 # (noise peaks set the top: the objects end up dim)
    distractor_p: float = 0.15   # probability of drawing thin random lines / rectangle outlines
    dim_p: float = 0.0           # probability of dimming some objects of a crop (to a
                                 # fraction of their contrast drawn from dim_contrast), so dim
                                 # nuclei next to bright ones count
    dim_contrast: tuple[float, float] = (0.1, 0.6)  # range of the contrast a dimmed object keeps
    hollow_p: float = 0.0        # probability of hollowing some objects of a crop: a pale
                                 # inside with clumps of chromatin under a bright rim, as the
                                 # open (vesicular) nuclei of many carcinomas look
    hollow_depth: tuple[float, float] = (0.4, 0.85)  # range of the contrast a hollowed inside loses
    stain: float = 0.0           # colour crops (3 RGB planes or 2 stain planes): each
                                 # stain's amount scaled by 1 +- stain and shifted by
                                 # +- stain x its mean (HED jitter)
    counterstain: float = 0.0    # hematoxylin crops: in half of them, the eosin density times
                                 # U(0, counterstain) added to the nuclear plane, as another
                                 # lab's stain and scanner leak stroma and cytoplasm into it

    def to_dict(self) -> dict:
        return asdict(self)


NO_AUGMENT = AugmentConfig(flip=False, rotate=False, zoom=(1.0, 1.0), shear=0.0, brightness=0.0,
                           contrast=(1.0, 1.0), gamma=(1.0, 1.0), blur_p=0.0, noise_p=0.0,
                           distractor_p=0.0)


def random_affine(rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """2x2 matrix mapping output offsets to input offsets (row, col)."""
    m = np.eye(2)
    if cfg.rotate:
        a = rng.uniform(0, 2 * np.pi)
        m = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ m
    if cfg.shear > 0:
        s = rng.uniform(-cfg.shear, cfg.shear)
        m = np.array([[1, s], [0, 1]]) @ m
    z = np.exp(rng.uniform(np.log(cfg.zoom[0]), np.log(cfg.zoom[1])))
    m = m / z  # zoom > 1 magnifies: one output pixel covers less input
    if cfg.flip:
        if rng.random() < 0.5:
            m = m @ np.diag([-1, 1])
        if rng.random() < 0.5:
            m = m @ np.diag([1, -1])
    return m


def crop(image: np.ndarray, labels: np.ndarray, centre: tuple[float, float], size: int,
         matrix: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sample a (size, size) crop centred on ``centre`` (row, col) through an affine ``matrix``.

    image : (H, W) or (C, H, W) float32; labels : (H, W) int. Outside the image is mirrored.
    """
    matrix = np.eye(2) if matrix is None else matrix
    half = (size - 1) / 2.0
    offset = np.asarray(centre, float) - matrix @ np.array([half, half])
    lab = ndi.affine_transform(labels, matrix, offset, output_shape=(size, size), order=0,
                               mode="mirror")
    if image.ndim == 2:
        img = ndi.affine_transform(image, matrix, offset, output_shape=(size, size), order=1,
                                   mode="mirror")
    else:
        img = np.stack([ndi.affine_transform(c, matrix, offset, output_shape=(size, size),
                                             order=1, mode="mirror") for c in image])
    return img.astype(np.float32), lab


def _draw_distractors(img: np.ndarray, rng: np.random.Generator) -> None:
    """Draw a few thin lines and rectangle outlines (debris, scratches, well edges) in place."""
    from skimage.draw import line_aa, rectangle_perimeter
    h, w = img.shape[-2:]
    for _ in range(rng.integers(1, 4)):
        value = rng.uniform(0.2, 1.0)
        if rng.random() < 0.5:
            r0, c0, r1, c1 = rng.integers(0, [h, w, h, w])
            rr, cc, val = line_aa(r0, c0, r1, c1)
            ok = (rr < h) & (cc < w)
            img[..., rr[ok], cc[ok]] = np.maximum(img[..., rr[ok], cc[ok]], value * val[ok])
        else:
            r0, c0 = rng.integers(0, [h, w])
            rr, cc = rectangle_perimeter((r0, c0), extent=tuple(rng.integers(20, max(21, h), 2)),
                                         shape=(h, w), clip=True)
            img[..., rr, cc] = value


def dim_objects(img: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                contrast: tuple[float, float] = (0.1, 0.6)) -> np.ndarray:
    """Copy of a prepared (objects bright) (H, W) or (C, H, W) image in which each object, with
    probability 1/2, keeps only a fraction of its contrast over the background median, drawn
    uniformly from ``contrast`` (default 10-60 %); the mask is softened (Gaussian, sigma 1 px)
    so no edge is drawn."""
    ids = _objects_on_background(labels)
    if not len(ids):
        return img
    keep = np.ones(int(labels.max()) + 1, np.float32)
    chosen = ids[rng.random(len(ids)) < 0.5]
    keep[chosen] = rng.uniform(contrast[0], contrast[1], len(chosen))
    return _contrast_times(img, labels, ndi.gaussian_filter(keep[labels], 1.0))


def _objects_on_background(labels: np.ndarray) -> np.ndarray:
    """Ids of the objects of an (H, W) label image; none when no background pixel is left
    to measure their contrast against."""
    ids = np.unique(labels)
    return ids[ids > 0] if (labels == 0).any() else ids[:0]


def _contrast_times(img: np.ndarray, labels: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``img`` with its contrast over the background median (pixels of label 0) multiplied by
    ``weight`` ((H, W)), pixel by pixel."""
    background = np.median(img[..., labels == 0])
    return (background + (img - background) * weight).astype(np.float32)


def stain_jitter(img: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Copy of a prepared (3, H, W) RGB crop (about 0..1) restained as another lab might: the
    hematoxylin, eosin and DAB optical densities of a colour deconvolution (the stain vectors
    of ``skimage.color.rgb2hed``) are each scaled by U(1 - strength, 1 + strength) and shifted
    by U(-strength, strength) times the stain's mean in the crop (HED jitter of Tellez et al.,
    2018). Unclipped, so strength 0 returns the crop (clipped to 1e-3..1)."""
    from skimage.color import hed_from_rgb, rgb_from_hed
    density = -np.log(np.clip(np.moveaxis(img, 0, -1), 1e-3, 1.0))  # (H, W, 3)
    stains = density @ hed_from_rgb
    alpha = rng.uniform(1 - strength, 1 + strength, 3)
    beta = rng.uniform(-strength, strength, 3) * stains.reshape(-1, 3).mean(0)
    rgb = np.exp(-((stains * alpha + beta) @ rgb_from_hed))
    return np.moveaxis(rgb, -1, 0).clip(0, 1).astype(np.float32)


def density_jitter(img: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Copy of a prepared (C, H, W) crop of stain densities (the ``hematoxylin_eosin`` input)
    restained as :func:`stain_jitter` restains RGB: each plane scaled by U(1 - strength,
    1 + strength) and shifted by U(-strength, strength) times its mean in the crop."""
    n = img.shape[0]
    alpha = rng.uniform(1 - strength, 1 + strength, n).astype(np.float32)
    beta = rng.uniform(-strength, strength, n) * img.reshape(n, -1).mean(1)
    return (img * alpha[:, None, None] + beta[:, None, None].astype(np.float32)).astype(np.float32)


def hollow_objects(img: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                   depth: tuple[float, float] = (0.4, 0.85)) -> np.ndarray:
    """Copy of a prepared (objects bright) (H, W) or (C, H, W) image in which each object at
    least 8 px across, with probability 1/2, is made vesicular: beyond a quarter of the way from
    its own outline to its centre, its contrast over the background median falls, reaching
    1 - d at 60 % of the way (d drawn from ``depth`` per object), with clumps of chromatin
    (Gaussian-filtered noise, sigma 1.2 px) restoring part of it. The rim keeps its contrast,
    so the outline, which is what the network must find, is unchanged."""
    from skimage.segmentation import find_boundaries
    ids = _objects_on_background(labels)
    if not len(ids):
        return img
    dist = ndi.distance_transform_edt(~find_boundaries(labels, mode="inner")) * (labels > 0)
    radius = np.zeros(int(labels.max()) + 1, np.float32)
    radius[ids] = ndi.maximum(dist, labels, ids)
    loss = np.zeros_like(radius)
    chosen = ids[(rng.random(len(ids)) < 0.5) & (radius[ids] >= 4)]
    loss[chosen] = rng.uniform(depth[0], depth[1], len(chosen))
    inside = np.clip((dist / np.maximum(radius[labels], 1) - 0.25) / 0.35, 0, 1) * loss[labels]
    clumps = ndi.gaussian_filter(rng.standard_normal(labels.shape), 1.2)
    clumps /= clumps.std() + 1e-6
    weight = np.clip(1 - inside + 0.35 * inside * clumps, 0.05, 1.2).astype(np.float32)
    return _contrast_times(img, labels, weight)


def counterstain_leak(img: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """(H, W) nuclear plane of a prepared (2, H, W) hematoxylin and eosin crop (each plane
    about 0..1), with, in half of the crops, the eosin plane times U(0, strength) added: the
    hematoxylin channel as the stain deconvolution reads tissue whose stains or scanner differ
    from the standard vectors, stroma and cytoplasm showing faintly where only nuclei should."""
    if rng.random() < 0.5:
        return img[0]
    return (img[0] + rng.uniform(0, strength) * img[1]).astype(np.float32)


def intensity(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Brightness, contrast, gamma, blur, noise and distractors on a prepared float image."""
    x = img
    c = rng.uniform(*cfg.contrast)
    x = (x - 0.5) * c + 0.5 + rng.uniform(-cfg.brightness, cfg.brightness)
    g = np.exp(rng.uniform(np.log(cfg.gamma[0]), np.log(cfg.gamma[1])))
    x = np.clip(x, 0, None) ** g
    if rng.random() < cfg.blur_p:
        sigma = rng.uniform(0.5, 1.5)
        x = ndi.gaussian_filter(x, sigma=(0,) * (x.ndim - 2) + (sigma, sigma))
    if rng.random() < cfg.noise_p:
        x = x + rng.normal(0, rng.uniform(*cfg.noise_sigma), x.shape)
        if cfg.noise_stretch:
            lo, hi = np.percentile(x, (1.0, 99.8))
            x = (x - lo) / max(hi - lo, 1e-6)
    x = x.astype(np.float32)
    if rng.random() < cfg.distractor_p:
        _draw_distractors(x, rng)
    return x
