"""Training options: one dataclass per section, strict at every level.

A YAML (or JSON, or dict) config has top-level training keys and two sections, ``network``
(:class:`cellseg.model.unet.UNetConfig`) and ``augment``
(:class:`cellseg.training.augment.AugmentConfig`). A key that no section knows is a usage
error naming the key and the section, never silently ignored. A file may start from another
with ``base: other.yaml`` (a path relative to it) and give only what differs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from cellseg.core.preprocess import IN_CHANNELS, check_gamma
from cellseg.errors import InputError
from cellseg.model.unet import UNetConfig
from cellseg.training.augment import AugmentConfig
from cellseg.training.targets import REPRESENTATIONS


def strict(cls, data: dict | None, section: str):
    """``cls(**data)`` for a dataclass, refusing unknown keys; lists become tuples where the
    field's default is a tuple (YAML has no tuples).

    Examples
    --------
    >>> strict(AugmentConfig, {"dimp": 0.3}, "augment")
    Traceback (most recent call last):
    ...
    ValueError: unknown key 'dimp' in section 'augment' (known: blur_p, brightness, contrast, counterstain, dim_contrast, dim_p, distractor_p, flip, gamma, hollow_depth, hollow_p, noise_p, noise_sigma, noise_stretch, rotate, shear, stain, zoom)
    """
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"section '{section}' must be a mapping, got {type(data).__name__}")
    data = dict(data or {})
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise ValueError(f"unknown key {key!r} in section '{section}' "
                             f"(known: {', '.join(sorted(known))})")
    for key, value in data.items():
        if isinstance(value, list) and isinstance(known[key].default, tuple):
            data[key] = tuple(value)
    return cls(**data)


SECTIONS = ("network", "augment")


def read_config(path: str | Path, _seen: tuple = ()) -> dict:
    """The options of a YAML/JSON config file, with those of its ``base`` file underneath.

    ``base: other.yaml`` (relative to this file; a base may have its own base) is read
    first; this file's keys then replace the base's, key by key inside the ``network`` and
    ``augment`` sections, whole values everywhere else (a list or ``source_share`` is not
    merged).

    Parameters
    ----------
    path : str or Path
        The config file.

    Returns
    -------
    dict
        The merged options, without ``base``.

    Raises
    ------
    InputError
        Naming the file that cannot be read, is not a mapping, or closes a cycle of bases.
    """
    import yaml
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(path, f"cannot read config ({exc})") from exc
    if not isinstance(data, dict):
        raise InputError(path, f"a config is a mapping of options, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return data
    base_path = path.parent / str(base)
    if base_path.resolve() in _seen + (path.resolve(),):
        raise InputError(path, f"base {base!r} leads back to a file on the way to it (a cycle)")
    merged = read_config(base_path, _seen + (path.resolve(),))
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


@dataclass
class TrainConfig:
    """Everything a training run needs. Sections: ``network`` and ``augment``."""

    epochs: int = 40
    steps_per_epoch: int = 100
    batch_size: int = 8
    patch_size: int = 256
    network: UNetConfig = field(default_factory=UNetConfig)
    loss: str = "bce_dice"
    optimizer: str = "adamw"       # adam | adamw | rmsprop | sgd
    lr: float = 2e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"       # cosine | exponential | plateau | none
    patience: int = 10             # epochs without a better validation score before stopping
    val_fraction: float = 0.15
    val_groups: list = field(default_factory=list)  # groups forced into validation (e.g. set16)
    leave_out: list = field(default_factory=list)  # groups (or group-name prefixes, e.g.
                                   # "fluorescence/512x640") kept out of training and
                                   # validation: scored later as unseen data
    val_max_images: int = 80       # validation images scored each epoch (all at the end)
    object_bias: float = 0.8       # share of crops centred on an object pixel
    type_balance: float = 0.5      # sampling share of an image type ~ (its image count)**this
    source_share: dict = field(default_factory=dict)  # {dataset folder: share of the crops}
                                   # fixed for some sources (e.g. {Fluo-N2DH-SIM+: 0.05}); the
                                   # others share the rest by type_balance
    separation: float = 0.0        # extra centre-distance (and flow) loss weight where objects
                                   # touch (0: off)
    edge: float = 0.0              # extra foreground BCE, weighted 1 + edge near object
                                   # outlines (sigma 2 px; 0: off)
    representation: str = "distance"  # what the network predicts for the instance step:
                                   # distance (foreground + centre distance) | boundary
                                   # (and each object's rim: for irregular, touching cells)
    init: str = ""                 # start from this model's weights (bundled name or model
                                   # folder; same network and outputs): fine-tuning
    ema: float = 0.0               # validate and save an exponential moving average of the
                                   # weights, this decay per step (e.g. 0.997; 0: off)
    num_workers: int | str = "auto"  # crop-making processes: auto = none on a CPU (the
                                   # step needs its cores), on a GPU its share of the cores
                                   # but one, at most 8 (crops are its limit); results do not
                                   # depend on it
    seed: int = 0                  # crops, augmentation, initial weights
    split_seed: int = 0            # validation split (when no val_groups): apart from seed, so
                                   # that a run with other crops, or a fine-tuning stage with
                                   # another seed, validates on the images its start did
    invert: str | bool = "auto"    # objects dark on bright: invert (auto | true | false)
    channels: str = "gray"         # network input: gray | hematoxylin (stain-deconvolved RGB)
                                   # | hematoxylin_eosin (its 2 stain planes) | rgb (3 planes)
    gamma: float = 1.0             # input intensities ** gamma, after normalization and
                                   # augmentation (0.5: square root, lifts dim objects)
    types: list = field(default_factory=list)  # keep only these image types (fluorescence,
                                   # brightfield, histology); empty: all
    bf16: bool | str = False       # bfloat16 autocast on CPU: true, false or auto (where the
                                   # CPU has bfloat16 instructions: 2-3x faster with AMX, ~3x
                                   # slower without; benchmarks/speed_models.py measures)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A config from a (YAML-loaded) dict; unknown keys at any level are a ValueError."""
        d = dict(d or {})
        network = strict(UNetConfig, d.pop("network", None), "network")
        augment = strict(AugmentConfig, d.pop("augment", None), "augment")
        cfg = strict(cls, d, "training")
        cfg.network, cfg.augment = network, augment
        network.validate()
        if cfg.channels not in IN_CHANNELS:
            raise ValueError(f"channels must be one of {', '.join(IN_CHANNELS)}, "
                             f"got {cfg.channels!r}")
        if augment.counterstain and cfg.channels != "hematoxylin":
            raise ValueError(f"augment.counterstain needs channels: hematoxylin, got {cfg.channels!r}")
        check_gamma(cfg.gamma)
        if cfg.num_workers != "auto" and (isinstance(cfg.num_workers, bool) or
                                          not isinstance(cfg.num_workers, int) or cfg.num_workers < 0):
            raise ValueError(f"num_workers must be auto or a whole number >= 0, "
                             f"got {cfg.num_workers!r}")
        if cfg.bf16 not in (True, False, "auto"):
            raise ValueError(f"bf16 must be true, false or auto, got {cfg.bf16!r}")
        if cfg.representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {', '.join(REPRESENTATIONS)}, "
                             f"got {cfg.representation!r}")
        return cfg

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        """A config from a YAML/JSON file (with its ``base`` files, see :func:`read_config`);
        any problem is a one-line InputError naming the file."""
        data = read_config(path)
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise InputError(path, str(exc)) from exc

    def to_dict(self) -> dict:
        """Plain dict (JSON/YAML-able) that :meth:`from_dict` reads back."""
        return dataclasses.asdict(self)

    def starting_from(self, model) -> "TrainConfig":
        """This config set to fine-tune ``model`` (a loaded :class:`TrainedModel`, recorded
        as ``init`` by its source): its network, representation and input are taken."""
        from cellseg.model.ensemble import first_network
        from cellseg.training.targets import REPRESENTATIONS
        model = first_network(model)
        outputs = list(model.card["outputs"])
        representation = next(r for r, o in REPRESENTATIONS.items() if list(o) == outputs)
        spec = model.card.get("input", {})
        return TrainConfig.from_dict({
            **self.to_dict(), "init": str(model.source),
            "network": UNetConfig.from_dict(model.card["architecture"]).to_dict(),
            "representation": representation, "channels": spec.get("channels", self.channels),
            "invert": spec.get("invert", self.invert), "gamma": spec.get("gamma", 1.0)})
