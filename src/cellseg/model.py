"""Model files and the U-Net segmenter.

A model is a folder (or a pair of files) holding ``model.safetensors`` (weights only, never
pickled) and ``model.json`` (architecture, input preparation, instance post-processing
thresholds, training summary, validation scores, cellseg version). Bundled models live in
``cellseg/models/<name>.safetensors`` + ``<name>.json``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from cellseg.errors import InputError
from cellseg.instances import InstanceParams, probs_to_labels
from cellseg.io.write import atomic_path
from cellseg.predict import DEFAULT_OVERLAP, DEFAULT_TILE, sliding_window, tta_predictor
from cellseg.preprocess import DEFAULT_PERCENTILES, Normalization, fit_normalization, prepare
from cellseg.rescale import (MIN_OBJECTS, check_diameter, object_diameter, resize, scale_factor,
                             scaled_shape)

BUNDLED_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = "nuclei"
FORMAT = "cellseg-unet/1"


def bundled_models() -> list[str]:
    """Names of the models shipped inside the package."""
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.json")
                  if p.with_suffix(".safetensors").exists())


def model_paths(name_or_path: str | Path) -> tuple[Path, Path]:
    """(weights, sidecar) of a bundled model name, a model folder, or a .safetensors file."""
    p = Path(name_or_path)
    if str(name_or_path) in bundled_models():
        return BUNDLED_DIR / f"{name_or_path}.safetensors", BUNDLED_DIR / f"{name_or_path}.json"
    if p.is_dir():
        return p / "model.safetensors", p / "model.json"
    if p.suffix == ".safetensors":
        return p, p.with_suffix(".json")
    if p.suffix == ".json":
        return p.with_suffix(".safetensors"), p
    if not p.exists():
        known = ", ".join(bundled_models()) or "none bundled"
        raise InputError(p, f"no such model (bundled models: {known})")
    raise InputError(p, "not a model (expected a folder with model.safetensors + model.json)")


class Segmenter:
    """A trained U-Net with the preparation and post-processing it was trained with."""

    def __init__(self, net, meta: dict):
        self.net = net
        self.meta = meta
        self.params = InstanceParams.from_dict(meta.get("instances", {}))
        self.device = "cpu"
        self.backend = "auto"
        self._predictors: dict = {}  # backend -> tile predictor, built on first use

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def new(cls, unet_config=None, **meta) -> "Segmenter":
        from cellseg.nn.unet import UNet, UNetConfig
        cfg = unet_config or UNetConfig()
        meta.setdefault("input", {"channels": "gray", "invert": "auto",
                                  "percentiles": list(DEFAULT_PERCENTILES)})
        meta.setdefault("outputs", ["foreground", "centre_distance"])
        meta.setdefault("instances", InstanceParams().to_dict())
        return cls(UNet(cfg), {"format": FORMAT, "architecture": cfg.to_dict(), **meta})

    @classmethod
    def load(cls, name_or_path: str | Path) -> "Segmenter":
        """Load a bundled model by name, a model folder or a .safetensors file (never unpickles)."""
        import torch
        from safetensors.torch import load_file
        from cellseg.nn.unet import UNet, UNetConfig
        weights, sidecar = model_paths(name_or_path)
        for f in (weights, sidecar):
            if not f.exists():
                raise InputError(f, "model file missing")
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(sidecar, f"model description is not valid JSON ({exc})") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise InputError(sidecar, f"not a cellseg model description (format {FORMAT} expected)")
        try:
            state = load_file(str(weights))
        except Exception as exc:
            raise InputError(weights, f"not a safetensors weights file ({exc})") from exc
        net = UNet(UNetConfig.from_dict(meta["architecture"]))
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise InputError(weights, f"weights do not fit the architecture ({first})") from exc
        net.eval()
        model = cls(net, meta)
        model.source = str(name_or_path)
        if torch.cuda.is_available():
            model.to("cuda")
        return model

    def save(self, folder: str | Path) -> None:
        """Write ``folder/model.safetensors`` and ``folder/model.json`` atomically."""
        from safetensors.torch import save_file
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        from cellseg import __version__
        self.meta["cellseg_version"] = __version__
        self.meta["instances"] = self.params.to_dict()
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        with atomic_path(folder / "model.safetensors") as tmp:
            save_file(state, str(tmp))
        with atomic_path(folder / "model.json") as tmp:
            tmp.write_text(json.dumps(self.meta, indent=2))

    def to(self, device: str) -> "Segmenter":
        self.net.to(device)
        self.device = device
        self._predictors.clear()
        return self

    # -- prediction -----------------------------------------------------------------------------
    def normalization(self, image: np.ndarray) -> Normalization:
        """The intensity mapping this model applies to ``image`` (or a subsample of it)."""
        spec = self.meta.get("input", {})
        return fit_normalization(image, invert=spec.get("invert", "auto"),
                                 percentiles=tuple(spec.get("percentiles", DEFAULT_PERCENTILES)),
                                 channel=self.channel)

    @property
    def channel(self) -> str:
        """The input channel this model reads: "gray" or "hematoxylin"."""
        return self.meta.get("input", {}).get("channels", "gray")

    def prepare(self, image: np.ndarray, norm: Normalization | None = None) -> np.ndarray:
        """Image (H, W[, C]) -> network input (1, H, W) float32, as at training time."""
        return prepare(image, norm=norm or self.normalization(image), channel=self.channel)[None]

    def tile_predictor(self, backend: str = "auto") -> Callable[[np.ndarray], np.ndarray]:
        """Callable mapping (N, 1, t, t) float32 tiles to (N, 2, t, t) probabilities.

        backend : "torch", "onnx" (ONNX Runtime, CPU) or "auto" (ONNX Runtime on CPU when it
            is installed and the export works, else PyTorch).
        """
        import torch
        net = self.net.eval()
        cuda = self.device.startswith("cuda")
        if backend not in ("auto", "torch", "onnx"):
            raise ValueError(f"backend must be auto, torch or onnx, got {backend!r}")
        if backend == "onnx" or (backend == "auto" and not cuda):
            try:
                from cellseg.onnx_backend import onnx_predictor
                return onnx_predictor(net)
            except Exception as exc:  # missing onnxruntime, failed export: PyTorch still works
                if backend == "onnx":
                    raise
                import warnings
                warnings.warn(f"ONNX Runtime unavailable ({exc}); using PyTorch")
        if not cuda:
            net = net.to(memory_format=torch.channels_last)

        def predict(tiles: np.ndarray) -> np.ndarray:
            x = torch.from_numpy(np.ascontiguousarray(tiles)).to(self.device)
            if not cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), torch.autocast("cuda", enabled=cuda):
                return torch.sigmoid(net(x)).float().cpu().numpy()
        return predict

    @property
    def object_diameter(self) -> float | None:
        """Typical diameter (pixels) of the objects this model was trained on; None: unknown."""
        return self.meta.get("object_diameter")

    def _factor(self, diameter: float | None, shape: tuple[int, int]) -> float:
        """Resize factor for an (H, W) image whose objects are ``diameter`` px across."""
        return scale_factor(check_diameter(diameter), self.object_diameter, shape=shape)

    def _probs(self, image: np.ndarray, factor: float = 1.0, *, tile: int = DEFAULT_TILE,
               overlap: int = DEFAULT_OVERLAP, tta: bool = False, batch_size: int = 2,
               backend: str | None = None, norm: Normalization | None = None) -> np.ndarray:
        """(2, H, W) probabilities of ``image`` predicted at ``factor`` x its size."""
        backend = backend or self.backend
        if backend not in self._predictors:
            self._predictors[backend] = self.tile_predictor(backend)
        predictor = self._predictors[backend]
        if tta:
            predictor = tta_predictor(predictor)
        x = self.prepare(image, norm)
        if factor != 1.0:
            x = resize(x, scaled_shape(x.shape[1:], factor))
        probs = sliding_window(x, predictor, out_channels=2, tile=tile, overlap=overlap,
                               batch_size=batch_size, multiple=self.net.multiple)
        return probs if factor == 1.0 else resize(probs, image.shape[:2])

    def labels_and_probs(self, image: np.ndarray, *, diameter: float | str | None = "auto",
                         **options) -> tuple[np.ndarray, np.ndarray]:
        """((H, W) int32 labels, (2, H, W) float32 probabilities: foreground, centre distance).

        diameter : typical object diameter in this image (pixels); ``"auto"`` (default)
            measures it on a first pass at the native size; None predicts at the native size.
            When it differs from the model's :attr:`object_diameter` by more than 1.75x, the
            image is resized to match for prediction (see :mod:`cellseg.rescale`); outputs
            keep the image's size.
        options : tile, overlap (pixels), tta (8 flips/rotations averaged), batch_size (tiles),
            backend ("auto", "torch", "onnx"), norm (a fixed intensity mapping, for the
            blocks of a huge image; default: this image's own).
        """
        shape = image.shape[:2]
        if diameter == "auto":
            probs = self._probs(image, **options)
            labels = probs_to_labels(probs, self.params)
            measured = object_diameter(labels, min_objects=MIN_OBJECTS)
            factor = scale_factor(measured, self.object_diameter, shape=shape)
            if factor == 1.0:
                return labels, probs
        else:
            factor = self._factor(diameter, shape)
        probs = self._probs(image, factor, **options)
        return probs_to_labels(probs, self.params), probs

    def predict_probs(self, image: np.ndarray, *, diameter: float | str | None = None,
                      **options) -> np.ndarray:
        """(2, H, W) float32 probabilities; options as for :meth:`labels_and_probs`, but by
        default at the image's native size (``diameter=None``)."""
        if diameter == "auto":
            return self.labels_and_probs(image, diameter=diameter, **options)[1]
        return self._probs(image, self._factor(diameter, image.shape[:2]), **options)

    def segment(self, image: np.ndarray, **kwargs) -> np.ndarray:
        """(H, W) int32 label image of an (H, W[, C]) image; options as for
        :meth:`labels_and_probs`."""
        return self.labels_and_probs(image, **kwargs)[0]

    def measure_diameter(self, image: np.ndarray, **kwargs) -> float | None:
        """Typical object diameter (pixels) in ``image``, from a pass at its native size; None
        with fewer than ``MIN_OBJECTS`` objects."""
        labels = self.labels_and_probs(image, **{**kwargs, "diameter": None})[0]
        return object_diameter(labels, min_objects=MIN_OBJECTS)


def load_model(name_or_path: str | Path = DEFAULT_MODEL) -> Segmenter:
    """Load a model: a bundled name (``nuclei``, ``cells``), a model folder or a weights file."""
    return Segmenter.load(name_or_path)


_LOADED: dict[tuple, Segmenter] = {}


def cached_model(name_or_path: str | Path = DEFAULT_MODEL) -> Segmenter:
    """:func:`load_model`, but once per process for a given model file (while it is unchanged):
    batch runs and Dask workers call this for every image or block."""
    weights, _ = model_paths(name_or_path)
    try:
        key = (str(weights.resolve()), weights.stat().st_mtime_ns)
    except OSError:
        return load_model(name_or_path)  # reports the missing file
    if key not in _LOADED:
        _LOADED[key] = load_model(name_or_path)
    return _LOADED[key]
