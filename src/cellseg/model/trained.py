"""A trained U-Net with the input preparation and post-processing it was trained with.

:class:`TrainedModel` turns an image (any size, any dtype) into probability maps and a label
image. It knows nothing of files: :mod:`cellseg.model.store` loads and saves it, and
:func:`cellseg.segmenter.make_segmenter` is how every front-end uses it.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from cellseg.core.instances import InstanceParams, probs_to_labels
from cellseg.core.preprocess import (
    DEFAULT_PERCENTILES,
    Normalization,
    compress,
    fit_normalization,
    prepare,
)
from cellseg.core.rescale import (
    AUTO_PASSES,
    MIN_OBJECTS,
    REFINE_TOLERANCE,
    check_diameter,
    object_diameter,
    resize,
    scale_factor,
    scaled_shape,
)
from cellseg.core.tiling import (
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    sliding_window,
    tta_predictor,
)
from cellseg.model.card import FORMAT

BACKENDS = ("auto", "torch", "onnx", "bf16")


class TrainedModel:
    """A U-Net (``net``) and its model card (``card``: a dict, see :mod:`cellseg.model.card`)."""

    def __init__(self, net, card: dict):
        self.net = net
        self.card = card
        self.params = InstanceParams.from_dict(card.get("instances", {}))
        self.device = "cpu"
        self.source = None                    # the name or path it was loaded from
        self._predictors: dict = {}           # backend -> tile predictor, built on first use

    @classmethod
    def new(cls, unet_config=None, **card) -> "TrainedModel":
        """An untrained model of the given :class:`cellseg.model.unet.UNetConfig`."""
        from cellseg.model.unet import UNetConfig, build_network
        cfg = unet_config or UNetConfig()
        card.setdefault("input", {"channels": "gray", "invert": "auto",
                                  "percentiles": list(DEFAULT_PERCENTILES)})
        card.setdefault("outputs", ["foreground", "centre_distance"])
        card.setdefault("instances", InstanceParams().to_dict())
        return cls(build_network(cfg), {"format": FORMAT, "architecture": cfg.to_dict(), **card})

    def to(self, device: str) -> "TrainedModel":
        self.net.to(device)
        self.device = device
        self._predictors.clear()
        return self

    # -- input ----------------------------------------------------------------------------------
    @property
    def channel(self) -> str:
        """The input this model reads: "gray", "hematoxylin", "hematoxylin_eosin" or "rgb"."""
        return self.card.get("input", {}).get("channels", "gray")

    @property
    def object_diameter(self) -> float | None:
        """Typical diameter (pixels) of the objects this model was trained on; None: unknown."""
        return self.card.get("object_diameter")

    def normalization(self, image: np.ndarray) -> Normalization:
        """The intensity mapping this model applies to ``image`` (or a subsample of it)."""
        spec = self.card.get("input", {})
        return fit_normalization(image, invert=spec.get("invert", "auto"),
                                 percentiles=tuple(spec.get("percentiles", DEFAULT_PERCENTILES)),
                                 channel=self.channel)

    def prepare(self, image: np.ndarray, norm: Normalization | None = None) -> np.ndarray:
        """Image (H, W[, C]) -> network input (C_in, H, W) float32, as at training time."""
        x = prepare(image, norm=norm or self.normalization(image), channel=self.channel)
        x = compress(x, self.card.get("input", {}).get("gamma", 1.0))
        return x[None] if x.ndim == 2 else x

    # -- prediction -----------------------------------------------------------------------------
    def tile_predictor(self, backend: str = "auto") -> Callable[[np.ndarray], np.ndarray]:
        """Callable mapping (N, 1, t, t) float32 tiles to (N, C, t, t) probabilities (C: the
        model's ``outputs``).

        backend : one of :data:`BACKENDS`: "torch", "onnx" (ONNX Runtime, CPU), "bf16"
            (PyTorch under CPU bfloat16 autocast: faster on CPUs with AMX-BF16, labels differ
            slightly by CPU) or "auto" (on CPU ONNX Runtime float32 when it is installed and
            the export works, else PyTorch; float16 autocast on CUDA).
        """
        import torch
        net = self.net.eval()
        cuda = self.device.startswith("cuda")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if backend == "onnx" or (backend == "auto" and not cuda):
            try:
                from cellseg.model.onnx import onnx_predictor
                return onnx_predictor(net)
            except Exception as exc:  # missing onnxruntime, failed export: PyTorch still works
                if backend == "onnx":
                    raise
                import warnings
                warnings.warn(f"ONNX Runtime unavailable ({exc}); using PyTorch")
        if not cuda:
            net = net.to(memory_format=torch.channels_last)
        autocast = {"device_type": "cuda", "dtype": torch.float16} if cuda else \
            {"device_type": "cpu", "dtype": torch.bfloat16, "enabled": backend == "bf16"}

        def predict(tiles: np.ndarray) -> np.ndarray:
            x = torch.from_numpy(np.ascontiguousarray(tiles)).to(self.device)
            if not cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), torch.autocast(**autocast):
                return torch.sigmoid(net(x).float()).cpu().numpy()
        return predict

    def factor(self, diameter: float | None, shape: tuple[int, int]) -> float:
        """Resize factor for an (H, W) image whose objects are ``diameter`` px across."""
        return scale_factor(check_diameter(diameter), self.object_diameter, shape=shape)

    def probs(self, image: np.ndarray, factor: float = 1.0, *, tile: int = DEFAULT_TILE,
              overlap: int = DEFAULT_OVERLAP, tta: bool = False, batch_size: int = 2,
              backend: str = "auto", norm: Normalization | None = None) -> np.ndarray:
        """(C, H, W) float32 probabilities (the card's ``outputs``: foreground, centre distance
        [, object rims]) of an (H, W[, C]) image, predicted at ``factor`` x its size and resized back.

        tile, overlap : sliding-window tile side and overlap (pixels); tta : average of 8
        flips/rotations; backend : see :meth:`tile_predictor`; norm : a fixed intensity mapping
        (for the blocks of a huge image; default: this image's own).
        """
        if backend not in self._predictors:
            self._predictors[backend] = self.tile_predictor(backend)
        predictor = self._predictors[backend]
        if tta:
            outputs = list(self.card.get("outputs", []))
            vectors = ((outputs.index("flow_y"), outputs.index("flow_x"))
                       if "flow_y" in outputs else None)
            predictor = tta_predictor(predictor, vectors)
        x = self.prepare(image, norm)
        if factor != 1.0:
            x = resize(x, scaled_shape(x.shape[1:], factor))
        probs = sliding_window(x, predictor, out_channels=self.net.cfg.out_channels, tile=tile, overlap=overlap,
                               batch_size=batch_size, multiple=self.net.multiple)
        return probs if factor == 1.0 else resize(probs, image.shape[:2])

    def labels_and_probs(self, image: np.ndarray, *, diameter: float | str | None = "auto",
                         **options) -> tuple[np.ndarray, np.ndarray]:
        """((H, W) int32 labels, (C, H, W) float32 probabilities) of an (H, W[, C]) image.

        diameter : typical object diameter in this image (pixels); ``"auto"`` measures it on
            a first pass at the native size, then again at the size chosen (see
            :meth:`auto_passes`); None predicts at the native size. When it differs from
            :attr:`object_diameter` by more than 1.75x, the image is resized to match for
            prediction (see :mod:`cellseg.core.rescale`); outputs keep its size.
        options : as for :meth:`probs`.
        """
        if diameter == "auto":
            return self.auto_passes(image, **options)[1:]
        factor = self.factor(diameter, image.shape[:2])
        probs = self.probs(image, factor, **options)
        return probs_to_labels(probs, self.params_at(factor)), probs

    def auto_passes(self, image: np.ndarray, **options) -> tuple[float | None, np.ndarray,
                                                                  np.ndarray]:
        """(object diameter in pixels or None, labels, probabilities) of an image whose object
        size is unknown; the diameter, given back as ``diameter``, gives the same labels.

        A first pass at the native size measures the objects. When they call for resizing,
        the pass at that size measures them again: objects far larger than the model's are
        often found only in part at the native size (large bright nuclei in broken pieces,
        dim ones not at all), so the first measure falls short. While the new measure asks
        for a size more than :data:`REFINE_TOLERANCE` x off the last, one more pass (at most
        :data:`AUTO_PASSES` in all); the last pass's labels are returned. Images whose objects
        are near the model's size cost one pass, as before.
        """
        shape = image.shape[:2]
        factor, native = 1.0, None
        for passes in range(1, AUTO_PASSES + 1):
            probs = self.probs(image, factor, **options)
            labels = probs_to_labels(probs, self.params_at(factor))
            measured = object_diameter(labels, min_objects=MIN_OBJECTS)
            if factor == 1.0:
                native = measured
            if measured is None or passes == AUTO_PASSES:  # too few objects to measure, or
                break                                       # the last pass: keep this one
            wanted = scale_factor(measured, self.object_diameter, shape=shape)
            if max(wanted / factor, factor / wanted) <= REFINE_TOLERANCE:
                break
            factor = wanted
        if factor == 1.0 and scale_factor(native, self.object_diameter, shape=shape) == 1.0:
            return native, labels, probs
        return self.object_diameter / factor, labels, probs  # the size these labels were made at

    def params_at(self, factor: float) -> InstanceParams:
        """The instance parameters for probabilities predicted at ``factor`` x the image's
        size and resized back: ``min_size`` (pixels, tuned at the model's scale) shrinks
        by ``factor``**2, so small nuclei of a low-magnification image are kept."""
        if factor == 1.0:
            return self.params
        return replace(self.params, min_size=max(1, round(self.params.min_size / factor ** 2)))

    def predict_probs(self, image: np.ndarray, *, diameter: float | str | None = None,
                      **options) -> np.ndarray:
        """(C, H, W) probabilities; by default at the image's native size (``diameter=None``)."""
        if diameter == "auto":
            return self.labels_and_probs(image, diameter=diameter, **options)[1]
        return self.probs(image, self.factor(diameter, image.shape[:2]), **options)

    def with_instances(self, params: dict) -> "TrainedModel":
        """A copy of this model (same network) whose instance step uses ``params`` (e.g. one
        entry of the card's ``instances_by_method``) instead of its own."""
        import copy
        other = copy.copy(self)
        other.params = InstanceParams.from_dict(params)
        return other

    def segment(self, image: np.ndarray, **options) -> np.ndarray:
        """(H, W) int32 labels; options as for :meth:`labels_and_probs`."""
        return self.labels_and_probs(image, **options)[0]

    def measure_diameter(self, image: np.ndarray, **options) -> float | None:
        """Typical object diameter (pixels) in ``image``, measured as ``diameter="auto"``
        does (:meth:`auto_passes`); None with fewer than ``MIN_OBJECTS`` objects."""
        return self.auto_passes(image, **options)[0]
