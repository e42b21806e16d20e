"""One factory from options to a segmenter: ``make_segmenter(SegmentOptions(...))``.

Every front-end (the Python API, batch runs, huge images, Dask workers, tracking, the napari
widget) turns its options into a :class:`Segmenter` here and calls it on images; nothing else
loads a model or decides how an image is segmented.

A segmenter maps an (H, W) or (H, W, C) image to a :class:`Segmentation`: labels, the
foreground probability when asked, and the name of the model that made them. With the default
model (``model=None`` or ``"auto"``) the model is chosen per image: stained tissue (colour on
a bright background, H&E and similar) goes to the bundled ``he`` model when it is installed,
everything else to ``nuclei``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cellseg.core.tiling import DEFAULT_OVERLAP, DEFAULT_TILE

METHODS = ("unet", "otsu")
AUTO = "auto"


@dataclass(frozen=True)
class SegmentOptions:
    """How to segment an image.

    Attributes
    ----------
    method : "unet" (a trained model) or "otsu" (the classical baseline).
    model : None or "auto" (chosen per image, see :func:`choose_model`), a bundled model name
        ("nuclei", "he", "cells"), a model folder or weights file, or a loaded
        :class:`cellseg.model.TrainedModel`.
    diameter : typical object diameter (pixels); "auto" measures it on a first pass; None
        predicts at the native size.
    same_scale : with "auto", measure the diameter (and choose the model) on the first image
        only and keep both for every later one (the frames of a movie).
    tile, overlap : sliding-window tile side and overlap (pixels).
    tta : average 8 flips/rotations (about 8x slower).
    backend : "auto" (ONNX Runtime float32 on CPU when available), "torch", "onnx" or "bf16"
        (PyTorch under CPU bfloat16 autocast: faster on CPUs with AMX-BF16); see
        :meth:`cellseg.model.TrainedModel.tile_predictor`.
    probs : also return the (H, W) foreground probability (unet only).
    """

    method: str = "unet"
    model: object = None
    diameter: float | str | None = AUTO
    same_scale: bool = False
    tile: int = DEFAULT_TILE
    overlap: int = DEFAULT_OVERLAP
    tta: bool = False
    backend: str = "auto"
    probs: bool = False


@dataclass
class Segmentation:
    """What a segmenter returns for one image.

    labels : (H, W) int32, 0 = background.
    probs : (H, W) float32 foreground probability in [0, 1], or None when not asked for.
    model : the model that segmented it ("otsu" for the classical method).
    """

    labels: np.ndarray
    probs: np.ndarray | None
    model: str


STAIN_LIGHTNESS = 0.1   # median of a pixel's darkest channel, as a share of full scale
STAIN_CHROMA = 0.04     # mean spread between a pixel's channels, as a share of full scale


def is_stained(image: np.ndarray) -> bool:
    """True for stained tissue (H&E, IHC): a colour image whose pixels are mostly light (the
    stains absorb light, so even dense tissue keeps its darkest channel above
    ``STAIN_LIGHTNESS``) and coloured (channel spread ``STAIN_CHROMA`` on average).

    A colour fluorescence composite (dark background) and gray stored as RGB are not. On the
    H&E sets of ../shared/data the darkest-channel median is at least 0.14 and the spread at
    least 0.11; fluorescence composites have a black background.

    Examples
    --------
    >>> pink = np.full((20, 20, 3), (230, 180, 210), np.uint8)
    >>> pink[5:10, 5:10] = (90, 40, 140)                 # a purple nucleus
    >>> dapi = np.zeros((20, 20, 3), np.uint8); dapi[5:10, 5:10, 2] = 200
    >>> is_stained(pink), is_stained(dapi), is_stained(pink[..., 0])
    (True, False, False)
    """
    from cellseg.core.preprocess import is_color
    if not is_color(image) or image.shape[-1] < 3:
        return False
    rgb = np.asarray(image[..., :3], np.float32)
    full = (np.iinfo(image.dtype).max if image.dtype in (np.uint8, np.uint16)
            else max(1.0, float(np.nanmax(rgb))))
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / 250_000)))  # ~250k pixels suffice
    rgb = rgb[::step, ::step] / full
    darkest = np.median(rgb.min(-1))
    chroma = np.mean(rgb.max(-1) - rgb.min(-1))
    return bool(darkest >= STAIN_LIGHTNESS and chroma >= STAIN_CHROMA)


def choose_model(image: np.ndarray) -> str:
    """The bundled model for an image when none is named: "he" for stained tissue (when that
    model is installed), else "nuclei"."""
    from cellseg.model.store import bundled_models
    return "he" if is_stained(image) and "he" in bundled_models() else "nuclei"


def model_name(model) -> str:
    """How a model option (a name, a path or a loaded model) is written in records and
    tables."""
    if isinstance(model, str) or hasattr(model, "__fspath__"):
        return str(model)
    return getattr(model, "source", None) or "custom"


def is_loaded(model) -> bool:
    """True for a loaded model object (as opposed to a name or a path)."""
    return hasattr(model, "labels_and_probs")


class Segmenter:
    """A callable image -> :class:`Segmentation`, built by :func:`make_segmenter`."""

    def __init__(self, opts: SegmentOptions):
        self.opts = opts
        self._first: Segmenter | None = None   # with same_scale: bound on the first image

    def describe(self) -> dict:
        """The options that matter for a record of the run (JSON-able)."""
        o = self.opts
        if o.method == "otsu":
            return {"method": "otsu"}
        model = AUTO if o.model in (None, AUTO) else model_name(o.model)
        return {"method": "unet", "model": model, "diameter": o.diameter, "tta": o.tta}

    def trained_model(self, image: np.ndarray | None = None):
        """(name, :class:`cellseg.model.TrainedModel`) that segments ``image`` (loaded once per
        process); the image is needed only when the model is chosen per image."""
        from cellseg.model.store import cached_model
        model = self.opts.model
        if model in (None, AUTO):
            if image is None:
                raise ValueError("the model is chosen per image: give the image")
            model = choose_model(image)
        return model_name(model), model if is_loaded(model) else cached_model(model)

    def bound(self, image: np.ndarray, norm=None) -> "Segmenter":
        """This segmenter with the model chosen and the object diameter measured on ``image``
        (when they are "auto"), fixed for every later image: one scale and one model for the
        frames of a movie or the blocks of a huge image."""
        if self.opts.method == "otsu":
            return Segmenter(replace(self.opts, same_scale=False))
        name, model = self.trained_model(image)
        diameter = self.opts.diameter
        if diameter == AUTO:
            diameter = model.measure_diameter(image, tile=self.opts.tile,
                                              overlap=self.opts.overlap, norm=norm,
                                              backend=self.opts.backend)
        fixed = model if is_loaded(self.opts.model) else name
        return Segmenter(replace(self.opts, model=fixed, diameter=diameter, same_scale=False))

    def normalization(self, image: np.ndarray):
        """The intensity mapping the model applies to ``image`` (fit once on a subsample of a
        huge image, then given to every block as ``norm``); None for Otsu."""
        if self.opts.method == "otsu":
            return None
        return self.trained_model(image)[1].normalization(image)

    def __call__(self, image: np.ndarray, *, norm=None) -> Segmentation:
        """Segment one (H, W) or (H, W, C) image; ``norm`` fixes the intensity mapping."""
        o = self.opts
        if o.same_scale:
            self._first = self._first or self.bound(image, norm)
            return self._first(image, norm=norm)
        if o.method == "otsu":
            from cellseg.core.classical import segment_otsu
            return Segmentation(segment_otsu(image), None, "otsu")
        name, model = self.trained_model(image)
        labels, probs = model.labels_and_probs(image, diameter=o.diameter, tile=o.tile,
                                               overlap=o.overlap, tta=o.tta, norm=norm,
                                               backend=o.backend)
        return Segmentation(labels, probs[0] if o.probs else None, name)


def make_segmenter(opts: SegmentOptions | None = None, **changes) -> Segmenter:
    """The segmenter for ``opts`` (default :class:`SegmentOptions`, with ``changes``).

    Options are checked here, so a bad method, model or diameter fails once, before any image.

    Examples
    --------
    >>> seg = make_segmenter(method="otsu")
    >>> img = np.zeros((40, 40)); img[5:15, 5:15] = 1; img[25:35, 20:30] = 1
    >>> result = seg(img)
    >>> int(result.labels.max()), result.model
    (2, 'otsu')
    """
    from cellseg.core.rescale import check_diameter
    from cellseg.model.trained import BACKENDS
    opts = replace(opts or SegmentOptions(), **changes)
    if opts.method not in METHODS:
        raise ValueError(f"unknown method {opts.method!r}; choose unet or otsu")
    if opts.backend not in BACKENDS:
        raise ValueError(f"unknown backend {opts.backend!r}; choose {', '.join(BACKENDS)}")
    if opts.method == "otsu" and opts.probs:
        raise ValueError("probability maps need --method unet")
    if opts.diameter != AUTO:
        check_diameter(opts.diameter)
    seg = Segmenter(opts)
    if opts.method == "unet" and opts.model not in (None, AUTO):
        seg.trained_model()  # a bad model name or file fails here
    return seg
