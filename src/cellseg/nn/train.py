"""Training loop: crops -> U-Net -> loss, with validation on the segmentation score.

``train(data, out_dir, config)`` writes into ``out_dir``:

- ``model.safetensors`` + ``model.json``: the best model by validation DSB2018 score, with
  instance thresholds tuned on the validation images;
- ``checkpoint/``: the last epoch's weights and optimizer state (safetensors + JSON), written
  after every epoch and on Ctrl-C / SIGTERM, from which ``resume=True`` continues;
- ``history.csv`` and ``training_curve.png``.
"""
from __future__ import annotations

import json
import math
import signal
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from cellseg.errors import InputError
from cellseg.instances import InstanceParams, probs_to_labels
from cellseg.io.write import atomic_path, write_csv
from cellseg.nn.augment import AugmentConfig
from cellseg.rescale import typical_diameter


@dataclass
class TrainConfig:
    """Everything a training run needs; a YAML/JSON config file may hold any of these keys."""

    epochs: int = 40
    steps_per_epoch: int = 100
    batch_size: int = 8
    patch_size: int = 256
    width: int = 16
    depth: int = 4
    norm: str = "batch"
    dropout: float = 0.0
    activation: str = "relu"
    loss: str = "bce_dice"
    optimizer: str = "adamw"       # adam | adamw | rmsprop | sgd
    lr: float = 2e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"       # cosine | exponential | plateau | none
    patience: int = 10             # epochs without a better validation score before stopping
    val_fraction: float = 0.15
    val_groups: list = field(default_factory=list)  # groups forced into validation (e.g. set16)
    val_max_images: int = 80       # validation images scored each epoch (all at the end)
    object_bias: float = 0.8
    type_balance: float = 0.5      # sampling share of an image type ~ (its image count)**this
    separation: float = 0.0        # extra centre-distance loss weight where objects touch (0: off)
    ema: float = 0.0               # validate and save an exponential moving average of the
                                   # weights, this decay per step (e.g. 0.997; 0: off)
    num_workers: int = 0
    seed: int = 0
    invert: str = "auto"
    channels: str = "gray"         # network input: gray | hematoxylin (stain-deconvolved RGB)
    types: list = field(default_factory=list)  # keep only these image types (fluorescence,
                                   # brightfield, histology); empty: all
    bf16: bool = False             # bfloat16 autocast on CPU (measured slower on some CPUs)
    augment: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        return cls(**d)

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        import yaml
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(path, f"cannot read config ({exc})") from exc
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise InputError(path, str(exc)) from exc


def _load_items(data: list[str | Path], quiet: bool, types: list[str] = ()):
    """All annotated items of the datasets, prepared: (ids, groups, strata, images, labels).

    The stratum of an item is its image type, prefixed by its dataset's folder name when
    several datasets are given (so a split and the crop sampling balance the sources too).
    """
    from tqdm import tqdm
    from cellseg.io.datasets import dsb_image_type, open_dataset
    from cellseg.nn.data import appearance_groups
    ids, groups, strata, images, labels = [], [], [], [], []
    items = [(Path(p).name, it) for p in data for it in open_dataset(p)]
    for source, item in tqdm(items, desc="loading", disable=quiet, unit="img"):
        image, lab = item.load()
        kind = dsb_image_type(image)
        if types and kind not in types:
            continue
        ids.append(item.id)
        groups.append(item.group)
        strata.append(f"{source}:{kind}" if len(data) > 1 else kind)
        images.append(image)
        labels.append(lab)
    if not all(groups):
        fallback = appearance_groups(images, strata)
        groups = [g or f for g, f in zip(groups, fallback)]
    return ids, groups, strata, images, labels


def _optimizer(name: str, params, lr: float, wd: float):
    import torch
    name = name.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=0.9, nesterov=True)
    raise ValueError(f"unknown optimizer {name!r}; choose adam, adamw, rmsprop or sgd")


def _scheduler(name: str, opt, epochs: int):
    import torch
    name = name.lower()
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs), eta_min=0)
    if name == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.01 ** (1 / max(1, epochs)))
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=3)
    if name == "none":
        return None
    raise ValueError(f"unknown schedule {name!r}; choose cosine, exponential, plateau or none")


# -- checkpoints (safetensors + JSON; nothing pickled) --------------------------------------------

def save_checkpoint(folder: Path, model, opt, sched, state: dict) -> None:
    """Weights, optimizer tensors and the JSON-able rest of the training state."""
    from safetensors.torch import save_file
    model.save(folder)
    osd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in osd["state"].items():
        for k, v in st.items():
            if hasattr(v, "detach"):
                tensors[f"{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    with atomic_path(folder / "optimizer.safetensors") as tmp:
        save_file(tensors or {"_empty": __import__("torch").zeros(1)}, str(tmp))
    doc = {"param_groups": osd["param_groups"], "scalars": scalars,
           "scheduler": sched.state_dict() if sched is not None else None, **state}
    with atomic_path(folder / "state.json") as tmp:
        tmp.write_text(json.dumps(doc, default=float))


def update_ema(ema, net, decay: float, step: int) -> None:
    """Move the averaged weights ``ema`` towards ``net``'s: ema = d * ema + (1 - d) * net,
    with d = min(decay, (1 + step) / (10 + step)) so that early steps count fully; buffers
    (batch-norm statistics) are copied."""
    import torch
    d = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for e, p in zip(ema.parameters(), net.parameters()):
            e.lerp_(p.detach(), 1.0 - d)
        for e, b in zip(ema.buffers(), net.buffers()):
            e.copy_(b)


def load_checkpoint(folder: Path, model, opt, sched) -> dict:
    """Restore what :func:`save_checkpoint` wrote; returns the JSON training state."""
    import torch
    from safetensors.torch import load_file
    from cellseg.model import Segmenter
    saved = Segmenter.load(folder)
    model.net.load_state_dict(saved.net.state_dict())
    doc = json.loads((folder / "state.json").read_text())
    tensors = load_file(str(folder / "optimizer.safetensors"))
    state: dict = {}
    for key, v in tensors.items():
        if key == "_empty":
            continue
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    for key, v in doc["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = torch.tensor(v) if name == "step" else v
    opt.load_state_dict({"state": state, "param_groups": doc["param_groups"]})
    if sched is not None and doc.get("scheduler"):
        sched.load_state_dict(doc["scheduler"])
    return doc


# -- validation ---------------------------------------------------------------------------------

def predict_all(model, images: list[np.ndarray]) -> list[np.ndarray]:
    """(2, H, W) probabilities of each image (PyTorch: the weights change between calls)."""
    return [model.predict_probs(im, backend="torch") for im in images]


def score_probs(probs: list[np.ndarray], truths: list[np.ndarray], params: InstanceParams) -> dict:
    from cellseg.metrics import evaluate
    return evaluate([probs_to_labels(p, params) for p in probs], truths)


def tune_thresholds(probs, truths, base: InstanceParams) -> tuple[InstanceParams, dict]:
    """Grid search of the foreground and seed thresholds and of the smoothing of the centre
    distance, then of the relative minimum object size, for the best mean DSB2018 score on
    the validation images."""
    def best_of(candidates, best=None, best_scores=None):
        for params in candidates:
            scores = score_probs(probs, truths, params)
            if best_scores is None or scores["dsb_score"] > best_scores["dsb_score"]:
                best, best_scores = params, scores
        return best, best_scores

    best, scores = best_of(InstanceParams(prob_threshold=pt, seed_threshold=st,
                                          min_size=base.min_size, smooth=smooth)
                           for smooth in (0.0, 1.0, 2.0) for pt in (0.4, 0.5, 0.6)
                           for st in (0.3, 0.4, 0.5, 0.6, 0.7))
    return best_of((replace(best, min_relative=f) for f in (0.1, 0.2, 0.3)), best, scores)


def retune(model_dir: str | Path, data: list[str | Path]) -> dict:
    """Tune a trained model's instance parameters again on its validation images (listed in
    its model card), measure its training objects' typical diameter, save both; returns the
    validation scores."""
    from cellseg.io.datasets import open_dataset
    from cellseg.model import Segmenter
    model = Segmenter.load(model_dir)
    val_ids = set(model.meta["training"]["val_ids"])
    items = [it for p in data for it in open_dataset(p)]
    pairs = [it.load() for it in items if it.id in val_ids]
    model.meta["object_diameter"] = typical_diameter(it.load()[1] for it in items
                                                     if it.id not in val_ids)
    probs = predict_all(model, [im for im, _ in pairs])
    params, scores = tune_thresholds(probs, [lab for _, lab in pairs], model.params)
    model.params = params
    model.meta["validation"] = {k: v for k, v in scores.items() if k != "confusion_matrix"}
    model.save(model_dir)
    return scores


def plot_history(history: list[dict], path: Path) -> None:
    """Training loss, validation score and learning rate against epoch, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ep = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(ep, [h["train_loss"] for h in history], "o-")
    axes[0].set(title="Training loss", xlabel="epoch", ylabel="loss")
    axes[1].plot(ep, [h["val_dsb_score"] for h in history], "o-", color="C2")
    axes[1].set(title="Validation DSB2018 score", xlabel="epoch", ylabel="score (0-1)")
    axes[2].plot(ep, [h["lr"] for h in history], "o-", color="C3")
    axes[2].set(title="Learning rate", xlabel="epoch", ylabel="lr")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


# -- the loop -----------------------------------------------------------------------------------

def _distributed_setup() -> tuple[int, int, str]:
    """(rank, world size, device). Under ``torchrun`` (WORLD_SIZE > 1) joins the process group:
    NCCL with one GPU per process, or Gloo on CPU."""
    import os
    import torch
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = f"cuda:{local}" if cuda else "cpu"
    if world > 1:
        import torch.distributed as dist
        if cuda:
            torch.cuda.set_device(local)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")
        return dist.get_rank(), world, device
    return 0, 1, device


def train(data: list[str | Path], out_dir: str | Path, config: TrainConfig | None = None, *,
          resume: bool = False, quiet: bool = False):
    """Train a U-Net on annotated datasets and save the best model in ``out_dir``.

    Returns the best :class:`cellseg.model.Segmenter`.
    """
    import pandas as pd
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm
    from cellseg.model import Segmenter
    from cellseg.nn.data import CropDataset, balanced_weights, group_split
    from cellseg.nn.losses import get_loss, segmentation_loss
    from cellseg.nn.unet import UNetConfig
    from cellseg.preprocess import prepare

    cfg = config or TrainConfig()
    rank, world, device = _distributed_setup()
    quiet = quiet or rank != 0
    out = Path(out_dir)
    ckpt = out / "checkpoint"
    if resume and not (ckpt / "state.json").exists():
        raise InputError(ckpt, "no checkpoint to resume from")
    fg_loss = get_loss(cfg.loss)
    torch.manual_seed(cfg.seed)

    ids, groups, strata, raw, labels = _load_items(list(data), quiet, cfg.types)
    if cfg.val_groups:
        val_idx = [i for i, g in enumerate(groups) if g in set(cfg.val_groups)]
        tr_idx = [i for i in range(len(ids)) if i not in set(val_idx)]
    else:
        tr_idx, val_idx = group_split(ids, groups, strata, val_fraction=cfg.val_fraction,
                                      seed=cfg.seed)
    if not tr_idx or not val_idx:
        raise InputError(data[0], f"need images for training and validation, got {len(tr_idx)} "
                         f"and {len(val_idx)} (of {len(ids)})")
    prepared = [prepare(im, invert=cfg.invert, channel=cfg.channels) for im in raw]
    train_set = CropDataset([prepared[i] for i in tr_idx], [labels[i] for i in tr_idx],
                            patch_size=cfg.patch_size,
                            samples_per_epoch=cfg.steps_per_epoch * cfg.batch_size,
                            augment=AugmentConfig.from_dict(cfg.augment),
                            object_bias=cfg.object_bias, seed=cfg.seed + 1000 * rank,
                            separation=cfg.separation,
                            weights=balanced_weights([strata[i] for i in tr_idx], cfg.type_balance))
    rng = np.random.default_rng(cfg.seed)
    val_every = sorted(rng.permutation(val_idx)[:cfg.val_max_images].tolist())

    unet_cfg = UNetConfig(in_channels=1, out_channels=2, width=cfg.width, depth=cfg.depth,
                          norm=cfg.norm, dropout=cfg.dropout, activation=cfg.activation)
    counts = {s: sum(1 for i in tr_idx if strata[i] == s) for s in sorted(set(strata))}
    model = Segmenter.new(
        unet_cfg, object_diameter=typical_diameter([labels[i] for i in tr_idx]),
        input={"channels": cfg.channels, "invert": cfg.invert, "percentiles": [1.0, 99.8]},
        training={"config": asdict(cfg), "data": [str(p) for p in data],
                  "train_images": len(tr_idx), "val_images": len(val_idx),
                  "train_images_by_type": counts,
                  "val_ids": [ids[i] for i in val_idx]})
    model.to(device)
    net = model.net
    cuda = device.startswith("cuda")
    if not cuda:
        net = net.to(memory_format=torch.channels_last)
    ema = None
    if cfg.ema:
        import copy
        ema = copy.deepcopy(net).requires_grad_(False)
    opt = _optimizer(cfg.optimizer, net.parameters(), cfg.lr, cfg.weight_decay)
    sched = _scheduler(cfg.schedule, opt, cfg.epochs)
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)

    history: list[dict] = []
    start_epoch, best_score, stale, elapsed0 = 0, -1.0, 0, 0.0
    if resume:
        doc = load_checkpoint(ckpt, model, opt, sched)
        history, start_epoch = doc["history"], doc["epoch"] + 1
        best_score, stale, elapsed0 = doc["best_score"], doc["stale"], doc.get("elapsed_s", 0.0)
        if ema is not None and (ckpt / "ema.safetensors").exists():
            from safetensors.torch import load_file
            ema.load_state_dict(load_file(str(ckpt / "ema.safetensors")))
    # what is validated and saved: the averaged weights when cfg.ema is set
    val_model = model if ema is None else Segmenter(ema, model.meta)

    def checkpoint(state: dict) -> None:
        save_checkpoint(ckpt, model, opt, sched, state)
        if ema is not None:
            from safetensors.torch import save_file
            with atomic_path(ckpt / "ema.safetensors") as tmp:
                save_file({k: v.detach().cpu().contiguous() for k, v in ema.state_dict().items()},
                          str(tmp))

    step_net = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        step_net = DistributedDataParallel(net, device_ids=[device] if cuda else None)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    old = signal.signal(signal.SIGTERM, on_term)
    t0 = time.time() - elapsed0
    last_done = start_epoch - 1  # index of the last epoch whose checkpoint is written
    try:
        for epoch in range(start_epoch, cfg.epochs):
            train_set.set_epoch(epoch)
            loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=False,
                                num_workers=cfg.num_workers, drop_last=True)
            step_net.train()
            losses = []
            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=quiet,
                       unit="step", leave=False)
            for x, y in bar:
                x, y = x.to(device), y.to(device)
                if not cuda:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda" if cuda else "cpu", enabled=cuda or cfg.bf16,
                                    dtype=torch.bfloat16):
                    logits = step_net(x)
                loss = segmentation_loss(logits.float(), y, fg_loss)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                if ema is not None:
                    update_ema(ema, net, cfg.ema, epoch * cfg.steps_per_epoch + len(losses))
                losses.append(loss.item())
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
            val_model.net.eval()
            if rank == 0:
                probs = predict_all(val_model, [raw[i] for i in val_every])
                scores = score_probs(probs, [labels[i] for i in val_every], val_model.params)
            else:
                scores = {"dsb_score": 0.0, "ap50": 0.0, "pixel_iou": 0.0}
            if world > 1:  # every rank follows rank 0's validation score
                import torch.distributed as dist
                shared = torch.tensor([scores["dsb_score"]], dtype=torch.float64, device=device)
                dist.broadcast(shared, 0)
                scores["dsb_score"] = float(shared[0])
            lr = opt.param_groups[0]["lr"]
            if sched is not None:
                sched.step(scores["dsb_score"]) if cfg.schedule == "plateau" else sched.step()
            row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)),
                   "val_dsb_score": scores["dsb_score"], "val_ap50": scores["ap50"],
                   "val_pixel_iou": scores["pixel_iou"], "lr": lr,
                   "elapsed_s": round(time.time() - t0, 1)}
            history.append(row)
            improved = scores["dsb_score"] > best_score
            if improved:
                best_score, stale = scores["dsb_score"], 0
                model.meta["best_epoch"] = epoch + 1
                if rank == 0:
                    val_model.save(out)
            else:
                stale += 1
            if not quiet:
                eta = (time.time() - t0) / (epoch + 1 - start_epoch + 1e-9) * (cfg.epochs - epoch - 1)
                print(f"epoch {epoch + 1}/{cfg.epochs}  loss {row['train_loss']:.4f}  "
                      f"val DSB {scores['dsb_score']:.3f}  AP50 {scores['ap50']:.3f}  "
                      f"{'(best) ' if improved else ''}ETA {eta / 60:.0f} min", flush=True)
            if rank == 0:
                checkpoint({"epoch": epoch, "history": history, "best_score": best_score,
                            "stale": stale, "elapsed_s": time.time() - t0})
            last_done = epoch
            if rank == 0:
                write_csv(out / "history.csv", pd.DataFrame(history))
                plot_history(history, out / "training_curve.png")
            if stale >= cfg.patience:
                if not quiet:
                    print(f"early stop: no better validation score for {cfg.patience} epochs")
                break
    except KeyboardInterrupt:
        if rank != 0:
            raise
        checkpoint({"epoch": last_done, "history": history[: last_done + 1],
                    "best_score": best_score, "stale": stale, "elapsed_s": time.time() - t0})
        if not quiet:
            print(f"interrupted: last checkpoint in {ckpt}; continue with --resume")
        raise
    finally:
        signal.signal(signal.SIGTERM, old)

    if world > 1:
        import torch.distributed as dist
        dist.barrier()
        if rank != 0:
            dist.destroy_process_group()
            return None
    best = Segmenter.load(out)
    best.to(device)
    probs = predict_all(best, [raw[i] for i in val_idx])
    truths = [labels[i] for i in val_idx]
    params, scores = tune_thresholds(probs, truths, best.params)
    best.params = params
    best.meta["validation"] = {k: v for k, v in scores.items() if k != "confusion_matrix"}
    best.meta["training"]["seconds"] = round(time.time() - t0, 1)
    best.meta["training"]["device"] = device
    best.meta["training"]["epochs_run"] = len(history)
    best.save(out)
    if world > 1:
        import torch.distributed as dist
        dist.destroy_process_group()
    if not quiet:
        print(f"best model: {out} (validation DSB {scores['dsb_score']:.3f}, AP50 "
              f"{scores['ap50']:.3f}, pixel IoU {scores['pixel_iou']:.3f}; thresholds "
              f"{params.to_dict()})")
    return best
