"""Model files: find, load and save models, with one in-process cache.

A model is a folder (or a pair of files) holding ``model.safetensors`` (weights only, never
pickled) and ``model.json`` (the model card, :mod:`cellseg.model.card`). Bundled models live in
``cellseg/models/<name>.safetensors`` + ``<name>.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

from cellseg.errors import InputError
from cellseg.io.write import atomic_path
from cellseg.model.card import check_weights, read_card, sha256
from cellseg.model.trained import TrainedModel

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "nuclei"


def bundled_models() -> list[str]:
    """Names of the models shipped inside the package."""
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.json")
                  if p.with_suffix(".safetensors").exists())


def model_paths(name_or_path: str | Path) -> tuple[Path, Path]:
    """(weights, card) of a bundled model name, a model folder, or a .safetensors file."""
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


def load_model(name_or_path: str | Path = DEFAULT_MODEL) -> TrainedModel:
    """Load a bundled model by name, a model folder or a .safetensors file (never unpickles).

    Parameters
    ----------
    name_or_path : "nuclei", "he", "cells" (bundled), a model folder or a weights file.

    Returns
    -------
    TrainedModel : the network with its card; the weights' SHA-256 was checked against the
    card. Any problem is a one-line :class:`cellseg.errors.InputError` naming the file.

    Examples
    --------
    >>> model = load_model("nuclei")
    >>> model.channel, model.net.cfg.in_channels
    ('gray', 1)
    """
    import torch
    from safetensors.torch import load_file

    from cellseg.model.ensemble import network_from_architecture
    weights, card_path = model_paths(name_or_path)
    for f in (weights, card_path):
        if not f.exists():
            raise InputError(f, "model file missing")
    card = read_card(card_path)
    check_weights(card, weights)
    try:
        state = load_file(str(weights))
    except Exception as exc:
        raise InputError(weights, f"not a safetensors weights file ({exc})") from exc
    try:
        net = network_from_architecture(card["architecture"])
    except (TypeError, ValueError) as exc:
        raise InputError(card_path, f"not a network architecture ({exc})") from exc
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise InputError(weights, f"weights do not fit the architecture ({first})") from exc
    net.eval()
    model = TrainedModel(net, card)
    model.source = str(name_or_path)
    if torch.cuda.is_available():
        model.to("cuda")
    return model


def save_model(model: TrainedModel, folder: str | Path, float16: bool = False) -> None:
    """Write ``folder/model.safetensors`` and ``folder/model.json`` atomically; the card
    records the weights' SHA-256, the thresholds and the cellseg version.

    ``float16`` stores floating-point weights as IEEE half precision (half the file; they
    are read back into the float32 network by :func:`load_model`), for a bundled model that
    would otherwise pass the 20 MB limit. A weight beyond float16's range is an error.
    """
    import torch
    from safetensors.torch import save_file

    from cellseg import __version__
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    if float16:
        for k, v in state.items():
            if v.is_floating_point():
                if v.abs().max() > torch.finfo(torch.float16).max:
                    raise ValueError(f"weight {k} exceeds float16's range")
                state[k] = v.half()
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(state, str(tmp))
        digest = sha256(tmp)
    model.card["cellseg_version"] = __version__
    model.card["instances"] = model.params.to_dict()
    model.card["weights_sha256"] = digest
    model.card["weights_dtype"] = "float16" if float16 else "float32"
    with atomic_path(folder / "model.json") as tmp:
        tmp.write_text(json.dumps(model.card, indent=2))


_CACHE: dict[tuple[str, str], TrainedModel] = {}


def cached_model(name_or_path: str | Path = DEFAULT_MODEL) -> TrainedModel:
    """:func:`load_model`, once per process for a given weights file and content (its path and
    SHA-256): batch runs, Dask workers and the Python API share one copy, and a retrained model
    written over the old one is loaded again."""
    weights, _ = model_paths(name_or_path)
    try:
        key = (str(weights.resolve()), sha256(weights))
    except OSError:
        return load_model(name_or_path)  # reports the missing file
    if key not in _CACHE:
        _CACHE[key] = load_model(name_or_path)
    return _CACHE[key]
