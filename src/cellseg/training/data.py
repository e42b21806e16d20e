"""Training samples: augmented random crops from prepared images of any size.

Images are prepared once (``cellseg.core.preprocess.prepare``) and kept in memory as float32; every
sample is a fresh random crop. Crops are centred on an object pixel with probability
``object_bias``, so sparse images still teach the network what an object looks like.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from cellseg.core.preprocess import compress
from cellseg.training.augment import (
    NO_AUGMENT,
    AugmentConfig,
    counterstain_leak,
    crop,
    density_jitter,
    dim_objects,
    hollow_objects,
    intensity,
    random_affine,
    stain_jitter,
)
from cellseg.training.targets import make_targets


class CropDataset(Dataset):
    """``samples_per_epoch`` random crops; item i -> (image (C_in, P, P), targets (C, P, P))
    tensors (see :func:`cellseg.training.targets.make_targets` for the channels of
    ``representation``, ``separation`` and ``edge``).

    images : list of (H, W) or (C_in, H, W) float32 prepared images; labels : matching (H, W)
        int label images.
    weights : relative probability of drawing each image (default: all equal).
    gamma : the model's input gamma, applied after augmentation (see
        :func:`cellseg.core.preprocess.compress`), so noise and dimming act on linear
        intensities, as in a recorded image.
    """

    def __init__(self, images: list[np.ndarray], labels: list[np.ndarray], *, patch_size: int = 256,
                 samples_per_epoch: int = 800, augment: AugmentConfig | None = None,
                 object_bias: float = 0.8, seed: int = 0, weights: list[float] | None = None,
                 separation: float = 0.0, representation: str = "distance", gamma: float = 1.0,
                 edge: float = 0.0):
        if len(images) != len(labels) or not images:
            raise ValueError("need as many label images as images, and at least one")
        self.images, self.labels = images, labels
        self.patch_size = patch_size
        self.samples_per_epoch = samples_per_epoch
        self.augment = augment if augment is not None else AugmentConfig()
        self.object_bias = object_bias
        self.seed = seed
        self.separation = separation
        self.edge = edge
        self.representation = representation
        self.gamma = gamma
        self.epoch = 0
        self._objects = [np.flatnonzero(lab.ravel() > 0) for lab in labels]
        w = np.ones(len(images)) if weights is None else np.asarray(weights, float)
        self._cum = np.cumsum(w / w.sum())

    def __len__(self) -> int:
        return self.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Change the random stream so each epoch sees other crops (reproducibly)."""
        self.epoch = epoch

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        k = min(int(np.searchsorted(self._cum, rng.random(), side="right")), len(self.images) - 1)
        image, labels = self.images[k], self.labels[k]
        h, w = labels.shape
        objects = self._objects[k]
        if len(objects) and rng.random() < self.object_bias:
            r, c = divmod(int(objects[rng.integers(len(objects))]), w)
            centre = (r + rng.uniform(-self.patch_size / 4, self.patch_size / 4),
                      c + rng.uniform(-self.patch_size / 4, self.patch_size / 4))
        else:
            centre = (rng.uniform(0, h), rng.uniform(0, w))
        aug = self.augment
        matrix = random_affine(rng, aug) if aug is not NO_AUGMENT else None
        img, lab = crop(image, labels, centre, self.patch_size, matrix)
        if aug.stain > 0 and img.ndim == 3:
            img = (stain_jitter if img.shape[0] == 3 else density_jitter)(img, rng, aug.stain)
        if aug.counterstain > 0:  # (2, P, P) stain densities -> the hematoxylin the model reads
            img = counterstain_leak(img, rng, aug.counterstain)
        if aug.hollow_p > 0 and rng.random() < aug.hollow_p:
            img = hollow_objects(img, lab, rng, aug.hollow_depth)
        if aug.dim_p > 0 and rng.random() < aug.dim_p:  # no draw when off: same crops as before
            img = dim_objects(img, lab, rng, aug.dim_contrast)
        img = compress(intensity(img, rng, aug), self.gamma)
        return img[None] if img.ndim == 2 else img, make_targets(lab, self.separation, self.representation,
                                                                   self.edge)

    def __getitem__(self, index: int):
        img, tgt = self.sample(index)
        return torch.from_numpy(np.ascontiguousarray(img)), torch.from_numpy(tgt)


def group_split(ids: list[str], groups: list[str], strata: list[str] | None = None, *,
                val_fraction: float = 0.15, seed: int = 0) -> tuple[list[int], list[int]]:
    """Indices (train, val): whole groups go to one side; about ``val_fraction`` of each stratum.

    Within each stratum (e.g. image type) groups are shuffled with ``seed`` and moved to
    validation until it holds at least ``val_fraction`` of the stratum's items, never all of
    them. Items with an empty group are their own group.
    """
    strata = strata or [""] * len(ids)
    rng = np.random.default_rng(seed)
    by_stratum: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, (g, s) in enumerate(zip(groups, strata)):
        by_stratum[s][g or f"item:{ids[i]}"].append(i)
    val: list[int] = []
    for s in sorted(by_stratum):
        members = by_stratum[s]
        names = sorted(members)
        rng.shuffle(names)
        total = sum(len(v) for v in members.values())
        taken = 0
        for name in names:
            if taken >= val_fraction * total or taken + len(members[name]) >= total:
                continue
            if taken + len(members[name]) > 2 * val_fraction * total + 1:
                continue  # a group too big would unbalance the split; skip it
            val.extend(members[name])
            taken += len(members[name])
    val_set = set(val)
    return [i for i in range(len(ids)) if i not in val_set], sorted(val)


def appearance_groups(images: list[np.ndarray], kinds: list[str], *,
                      fraction: float = 0.04) -> list[str]:
    """Group names for images that carry no experiment id (DSB2018).

    Images of one kind and size are sorted by mean colour and cut into runs of about
    ``fraction`` of the kind's images (at least 2): images of one experiment look alike, so
    they tend to share a run, and a group-aware split then keeps near-duplicates on one side.
    """
    keys = [(k, im.shape[:2]) for k, im in zip(kinds, images)]
    per_kind: dict[str, int] = defaultdict(int)
    for k in kinds:
        per_kind[k] += 1
    by_key: dict = defaultdict(list)
    for i, key in enumerate(keys):
        by_key[key].append(i)
    groups = [""] * len(images)
    for (kind, shape), idx in sorted(by_key.items(), key=lambda kv: str(kv[0])):
        size = max(2, round(fraction * per_kind[kind]))
        colour = [tuple(np.asarray(images[i], np.float32).reshape(-1, images[i].shape[-1]
                  if images[i].ndim == 3 else 1).mean(0)) for i in idx]
        order = [i for _, i in sorted(zip(colour, idx))]
        for j, i in enumerate(order):
            groups[i] = f"{kind}/{shape[0]}x{shape[1]}/{j // size}"
    return groups


def balanced_weights(strata: list[str], power: float = 0.5,
                     shares: dict[str, float] | None = None) -> list[float]:
    """Per-item sampling weights giving each stratum a share proportional to its size**power.

    power 1 samples images uniformly; 0.5 lifts rare image types (13 brightfield images among
    540 fluorescence ones get 10 % of the crops instead of 2 %); 0 gives every type the same.

    ``shares`` fixes the share of the strata of some sources instead: {source: share}, a source
    being the dataset folder that prefixes the stratum name ("Fluo-N2DH-SIM+" for
    "Fluo-N2DH-SIM+:fluorescence"). Its strata split that share by size**power; the other strata
    split the rest so. A source that no stratum comes from, or shares that leave nothing for
    the other strata, are a ValueError.

    Examples
    --------
    >>> w = balanced_weights(["a:f"] * 3 + ["b:f"], 1.0, {"b": 0.1})
    >>> round(w[3] / sum(w), 3)
    0.1
    """
    counts: dict[str, int] = defaultdict(int)
    for s in strata:
        counts[s] += 1
    weight = {s: float(n) ** power for s, n in counts.items()}
    shares = dict(shares or {})
    source = {s: s.split(":", 1)[0] for s in counts}
    for name in shares:
        if name not in source.values():
            raise ValueError(f"source_share names {name!r}, which no training image comes from "
                             f"(sources: {', '.join(sorted(set(source.values())))})")
    rest = 1.0 - sum(shares.values())
    if shares and (rest <= 0 or min(shares.values()) <= 0
                   or all(v in shares for v in source.values())):
        raise ValueError(f"source_share {shares} must be positive and leave a share for the "
                         "other sources")
    pool = {s: source[s] if source[s] in shares else "" for s in counts}  # "": the rest
    pool_share = {**shares, "": rest}
    total: dict[str, float] = defaultdict(float)
    for s, w in weight.items():
        total[pool[s]] += w
    return [pool_share[pool[s]] * weight[s] / total[pool[s]] / counts[s] for s in strata]


@dataclass
class Annotated:
    """The annotated images of a training run, in memory: parallel lists."""

    ids: list[str]
    groups: list[str]      # experiment / patient: a split keeps each group on one side
    strata: list[str]      # image type (prefixed by the dataset folder with several datasets)
    images: list[np.ndarray]
    labels: list[np.ndarray]
    partial: list[str] = field(default_factory=list)  # ids skipped: objects left unoutlined


def load_annotated(data: list[str | Path], *, types=(), quiet: bool = False) -> Annotated:
    """Every annotated item of the dataset folders ``data`` (only images of the given
    ``types``, if any: fluorescence, brightfield, histology), but frames whose ground truth
    leaves objects unoutlined (:func:`cellseg.io.datasets.unoutlined_objects`; their ids go
    to ``partial``). Items without a group (DSB2018) get one from :func:`appearance_groups`."""
    from tqdm import tqdm

    from cellseg.io.datasets import dsb_image_type, open_dataset, unoutlined_objects
    out = Annotated([], [], [], [], [])
    items = [(Path(p).name, it) for p in data for it in open_dataset(p)]
    for source, item in tqdm(items, desc="loading", disable=quiet, unit="img"):
        image, lab = item.load()
        kind = dsb_image_type(image)
        if types and kind not in types:
            continue
        if unoutlined_objects(item, lab):
            out.partial.append(item.id)
            continue
        out.ids.append(item.id)
        out.groups.append(item.group)
        out.strata.append(f"{source}:{kind}" if len(data) > 1 else kind)
        out.images.append(image)
        out.labels.append(lab)
    if out.partial and not quiet:
        print(f"skipped {len(out.partial)} frames whose ground truth leaves objects unoutlined "
              f"(e.g. {out.partial[0]}): they would teach those objects as background")
    if not all(out.groups):
        fallback = appearance_groups(out.images, out.strata)
        out.groups = [g or f for g, f in zip(out.groups, fallback)]
    return out


def left_out(group: str, leave_out=()) -> bool:
    """Whether ``group`` is one of ``leave_out`` or starts with one of them followed by "/".
    A group named after its dataset folder ("stage1_train:fluorescence/512x640/0", as
    :func:`load_annotated` names DSB2018 groups when it loads several folders) also matches
    without that prefix ("fluorescence/512x640").

    Examples
    --------
    >>> left_out("stage1_train:fluorescence/512x640/0", ["fluorescence/512x640"])
    True
    >>> left_out("fluorescence/512x6400/0", ["fluorescence/512x640"])
    False
    """
    names = {group, group.split(":", 1)[-1]}
    return any(n == g or n.startswith(g.rstrip("/") + "/") for n in names for g in leave_out)


def split(items: Annotated, *, val_groups=(), val_fraction: float = 0.15, seed: int = 0,
          leave_out=()) -> tuple[list[int], list[int]]:
    """(train, validation) indices: the named ``val_groups`` when given, else
    :func:`group_split` by group and stratum. Items of the ``leave_out`` groups (see
    :func:`left_out`) are on neither side.

    Examples
    --------
    >>> items = Annotated(["a", "b", "c"], ["fl/256/0", "fl/512/0", "set41"], ["fl"] * 3, [], [])
    >>> split(items, val_groups=["set41"], leave_out=["fl/512"])
    ([0], [2])
    """
    names = set(items.groups)
    for key, unmatched in (
            ("leave_out", [g for g in leave_out if not any(left_out(h, [g]) for h in names)]),
            ("val_groups", [g for g in val_groups if g not in names])):
        if unmatched:
            raise ValueError(f"{key} {unmatched} matches no group of the data (groups are "
                             f"named like {sorted(names)[:3]})")
    kept = [i for i, g in enumerate(items.groups) if not left_out(g, leave_out)]
    if val_groups:
        val = [i for i in kept if items.groups[i] in set(val_groups)]
        return [i for i in kept if i not in set(val)], val
    tr, val = group_split([items.ids[i] for i in kept], [items.groups[i] for i in kept],
                          [items.strata[i] for i in kept], val_fraction=val_fraction, seed=seed)
    return [kept[i] for i in tr], [kept[i] for i in val]
