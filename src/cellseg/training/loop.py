"""The training loop: crops -> U-Net -> loss, validated on the segmentation score each epoch.

``train(data, out_dir, config)`` writes into ``out_dir``:

- ``model.safetensors`` + ``model.json``: the best model by validation DSB2018 score, with
  instance thresholds tuned on the validation images (:mod:`cellseg.training.tune`);
- ``checkpoint/``: the last epoch's state (:mod:`cellseg.training.checkpoint`), from which
  ``resume=True`` continues;
- ``history.csv`` and ``training_curve.png``.
"""
from __future__ import annotations

import os
import signal
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cellseg.core.rescale import typical_diameter
from cellseg.errors import InputError
from cellseg.training.config import TrainConfig
from cellseg.training.hardware import hardware, use_bf16


def make_optimizer(name: str, params, lr: float, wd: float):
    """adam | adamw | rmsprop | sgd (Nesterov momentum 0.9)."""
    import torch
    makers = {"adam": lambda: torch.optim.Adam(params, lr=lr, weight_decay=wd),
              "adamw": lambda: torch.optim.AdamW(params, lr=lr, weight_decay=wd),
              "rmsprop": lambda: torch.optim.RMSprop(params, lr=lr, weight_decay=wd),
              "sgd": lambda: torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=0.9,
                                             nesterov=True)}
    if name.lower() not in makers:
        raise ValueError(f"unknown optimizer {name!r}; choose adam, adamw, rmsprop or sgd")
    return makers[name.lower()]()


def make_scheduler(name: str, opt, epochs: int):
    """cosine | exponential (to 1 % of the rate) | plateau (on the validation score) | none."""
    import torch
    sch = torch.optim.lr_scheduler
    makers = {"cosine": lambda: sch.CosineAnnealingLR(opt, T_max=max(1, epochs), eta_min=0),
              "exponential": lambda: sch.ExponentialLR(opt, gamma=0.01 ** (1 / max(1, epochs))),
              "plateau": lambda: sch.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=3),
              "none": lambda: None}
    if name.lower() not in makers:
        raise ValueError(f"unknown schedule {name!r}; choose cosine, exponential, plateau or none")
    return makers[name.lower()]()


def distributed_setup() -> tuple[int, int, str]:
    """(rank, world size, device). Under ``torchrun`` (WORLD_SIZE > 1) joins the process group:
    NCCL with one GPU per process, or Gloo on CPU."""
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


def new_model(cfg: TrainConfig, items, tr_idx: list[int], val_idx: list[int], data):
    """An untrained model whose card records the config, the data and the split."""
    from dataclasses import replace

    from cellseg.core.instances import InstanceParams
    from cellseg.core.preprocess import IN_CHANNELS
    from cellseg.model.trained import TrainedModel
    from cellseg.training.targets import REPRESENTATIONS
    counts = {s: sum(1 for i in tr_idx if items.strata[i] == s) for s in sorted(set(items.strata))}
    outputs = REPRESENTATIONS[cfg.representation]
    model = TrainedModel.new(
        replace(cfg.network, in_channels=IN_CHANNELS[cfg.channels], out_channels=len(outputs)),
        outputs=outputs, instances=InstanceParams(method=cfg.representation).to_dict(),
        object_diameter=typical_diameter([items.labels[i] for i in tr_idx]),
        input={"channels": cfg.channels, "invert": cfg.invert, "percentiles": [1.0, 99.8],
               "gamma": cfg.gamma},
        training={"config": cfg.to_dict(), "data": [str(p) for p in data],
                  "train_images": len(tr_idx), "val_images": len(val_idx),
                  "train_images_by_type": counts, "val_ids": [items.ids[i] for i in val_idx],
                  "left_out_ids": [id_ for i, id_ in enumerate(items.ids)
                                   if i not in set(tr_idx) | set(val_idx)] + items.partial})
    if cfg.init:
        model.card["training"]["init"] = start_from(model, cfg.init, items.ids)
    elif cfg.network.encoder != "plain":  # start from ImageNet weights (read here only)
        from cellseg.model.efficientnet import load_imagenet_weights
        model.card["training"]["pretrained_encoder"] = load_imagenet_weights(model.net.encoder)
    return model


def warn_if_validation_moved(source_card: dict, val_ids, data_ids, name) -> int:
    """Warn when a run started from ``source_card``'s model validates (``val_ids``) on images
    that model trained on: the run's data (``data_ids``, every image it loaded) hold all the
    start's validation images, so its other images were the start's training ones (but for
    left-out sources). Its validation scores would then flatter it and not compare with the
    start's. Returns how many such images there are (0 for other data, e.g. a user's own)."""
    before = set(source_card.get("training", {}).get("val_ids") or ())
    moved = len(set(val_ids) - before) if before and before <= set(data_ids) else 0
    if moved:
        warnings.warn(f"{name}: {moved} of the {len(val_ids)} validation images were not in the "
                      "validation of the model this run starts from (it may have trained on "
                      "them); keep its split (val_groups, split_seed) to compare", stacklevel=2)
    return moved


def start_from(model, name_or_path: str, data_ids=()) -> dict:
    """Copy the weights of the model ``name_or_path`` (bundled name or folder) into ``model``,
    whose network must be the same or a wider one of the same depth (then the model is first
    widened without changing its output, see :mod:`cellseg.model.widen`, and the record says
    so: ``widened``). When the outputs differ (e.g. a flows model started from
    a boundary model), every layer is copied but the output layer, of which only the rows of
    the outputs both models have (by name) are. Returns what the card records of it (name,
    version, its own training time in seconds, and ``new_outputs`` when outputs differ).
    ``data_ids``: the ids of every image the run loaded (see
    :func:`warn_if_validation_moved`)."""
    from dataclasses import replace

    import torch

    from cellseg.model.ensemble import first_network, is_ensemble
    from cellseg.model.store import load_model
    from cellseg.model.unet import UNetConfig
    source = load_model(name_or_path)
    members = len(source.card["architecture"]["members"]) if is_ensemble(source.card) else 0
    if members:
        warnings.warn(f"{name_or_path}: an ensemble of {members} networks; training starts from "
                      "the first of them", stacklevel=2)
        source = first_network(source)
    network = lambda card, **kw: replace(UNetConfig.from_dict(card["architecture"]),  # noqa: E731
                                         out_channels=0, **kw)
    target = network(model.card)
    wider = (target.encoder == "plain" and network(source.card).width < target.width
             and network(source.card, width=target.width) == target)
    if network(source.card) != target and not wider:
        raise InputError(name_or_path, "cannot start from this model: its architecture "
                         f"{source.card['architecture']} differs from the config's "
                         f"{model.card['architecture']} (only a wider base width may differ)")
    warn_if_validation_moved(source.card, model.card.get("training", {}).get("val_ids", ()),
                             data_ids, name_or_path)
    old, new = list(source.card["outputs"]), list(model.card["outputs"])
    recorded = {"model": str(name_or_path), "cellseg_version": source.card.get("cellseg_version"),
                "weights_sha256": source.card.get("weights_sha256"),
                "seconds": source.card.get("training", {}).get("seconds")}
    if members:
        recorded["ensemble_member"] = f"the first of {members} networks"
    if wider:
        from cellseg.model.widen import widen_unet
        recorded["widened"] = f"width {source.net.cfg.width} -> {target.width}"
        source.net = widen_unet(source.net.cpu(), target.width)
    weights = source.net.state_dict()
    if old == new:
        model.net.load_state_dict(weights)
        return recorded
    model.net.load_state_dict({k: v for k, v in weights.items() if not k.startswith("head.")},
                              strict=False)
    head = model.net.state_dict()
    with torch.no_grad():
        for name in set(old) & set(new):
            for key in ("head.weight", "head.bias"):
                head[key][new.index(name)] = weights[key][old.index(name)]
    return {**recorded, "new_outputs": f"{old} -> {new}"}


def crop_dataset(cfg: TrainConfig, items, tr_idx: list[int], rank: int):
    """The random-crop training set of the training images, prepared as the model will be."""
    from cellseg.core.preprocess import prepare
    from cellseg.training.data import CropDataset, balanced_weights
    channel = cfg.channels
    if cfg.augment.counterstain > 0:  # its eosin plane too, added to the nuclear one by the crops
        channel = "hematoxylin_eosin"
    return CropDataset([prepare(items.images[i], invert=cfg.invert, channel=channel)
                        for i in tr_idx], [items.labels[i] for i in tr_idx],
                       patch_size=cfg.patch_size,
                       samples_per_epoch=cfg.steps_per_epoch * cfg.batch_size,
                       augment=cfg.augment, object_bias=cfg.object_bias,
                       seed=cfg.seed + 1000 * rank, separation=cfg.separation, edge=cfg.edge,
                       representation=cfg.representation, gamma=cfg.gamma,
                       weights=balanced_weights([items.strata[i] for i in tr_idx],
                                                cfg.type_balance, cfg.source_share))


@dataclass
class Run:
    """The state of one training run shared by its steps (built by :func:`start`)."""

    cfg: TrainConfig
    out: Path
    model: object                  # TrainedModel being trained
    net: object                    # its network (channels_last on CPU)
    step_net: object               # the network a step calls (DDP-wrapped under torchrun)
    opt: object
    sched: object
    ema: object | None             # averaged network, when cfg.ema
    device: str
    rank: int = 0
    world: int = 1
    history: list = field(default_factory=list)
    start_epoch: int = 0
    last_done: int = -1            # last epoch whose checkpoint is written
    best_score: float = -1.0
    stale: int = 0
    t0: float = field(default_factory=time.time)
    stop_requested: bool = False   # set by SIGTERM; the loop stops at the next step
    bf16: bool = False             # steps under bfloat16 autocast (cfg.bf16 resolved)

    @property
    def val_model(self):
        """What is validated and saved: the averaged weights when ``cfg.ema`` is set."""
        from cellseg.model.trained import TrainedModel
        return self.model if self.ema is None else TrainedModel(self.ema, self.model.card)

    def state(self, epoch: int) -> dict:
        return {"epoch": epoch, "history": self.history[: epoch + 1],
                "best_score": self.best_score, "stale": self.stale,
                "elapsed_s": time.time() - self.t0}

    def checkpoint(self, epoch: int) -> None:
        from cellseg.training.checkpoint import save_checkpoint
        save_checkpoint(self.out / "checkpoint", self.model, self.opt, self.sched,
                        self.state(epoch), self.ema)


def start(cfg: TrainConfig, model, out: Path, *, device: str, rank: int, world: int,
          resume: bool) -> Run:
    """Move the model to its device, build optimizer, scheduler and averaging, and restore
    the last checkpoint when resuming."""
    import copy

    import torch

    from cellseg.training.checkpoint import load_checkpoint
    model.to(device)
    net = model.net
    cuda = device.startswith("cuda")
    if not cuda:
        net = net.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(net).requires_grad_(False) if cfg.ema else None
    opt = make_optimizer(cfg.optimizer, net.parameters(), cfg.lr, cfg.weight_decay)
    sched = make_scheduler(cfg.schedule, opt, cfg.epochs)
    step_net = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        step_net = DistributedDataParallel(net, device_ids=[device] if cuda else None)
    run = Run(cfg, out, model, net, step_net, opt, sched, ema, device, rank, world,
              bf16=use_bf16(cfg.bf16, device))
    if resume:
        doc = load_checkpoint(out / "checkpoint", model, opt, sched, ema)
        run.history, run.start_epoch = doc["history"], doc["epoch"] + 1
        run.last_done = doc["epoch"]
        run.best_score, run.stale = doc["best_score"], doc["stale"]
        run.t0 = time.time() - doc.get("elapsed_s", 0.0)
    return run


def train_epoch(run: Run, dataset, epoch: int, quiet: bool) -> float:
    """One epoch of optimizer steps; returns the mean training loss."""
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from cellseg.training.checkpoint import update_ema
    from cellseg.training.hardware import loader_workers
    from cellseg.training.losses import get_loss, segmentation_loss
    cfg, cuda = run.cfg, run.device.startswith("cuda")
    fg_loss = get_loss(cfg.loss)
    dataset.set_epoch(epoch)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=False,
                        num_workers=loader_workers(cfg.num_workers, run.device, run.world),
                        drop_last=True)
    run.step_net.train()
    losses: list[float] = []
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=quiet, unit="step",
               leave=False)
    for x, y in bar:
        if run.stop_requested:
            raise KeyboardInterrupt
        x, y = x.to(run.device), y.to(run.device)
        if not cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda" if cuda else "cpu", enabled=run.bf16,
                            dtype=torch.bfloat16):
            logits = run.step_net(x)
        loss = segmentation_loss(logits.float(), y, fg_loss, edge=cfg.edge > 0)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        if run.ema is not None:
            update_ema(run.ema, run.net, cfg.ema, epoch * cfg.steps_per_epoch + len(losses))
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
    return float(np.mean(losses))


def validate(run: Run, images, truths) -> dict:
    """Validation scores of the current weights (rank 0 computes, every rank gets the DSB
    score, so that all ranks stop together)."""
    import torch

    from cellseg.training.tune import predict_all, score_probs
    run.val_model.net.eval()
    scores = {"dsb_score": 0.0, "ap50": 0.0, "pixel_iou": 0.0}
    if run.rank == 0:
        model = run.val_model
        scores = score_probs(predict_all(model, images), truths, model.params)
    if run.world > 1:
        import torch.distributed as dist
        shared = torch.tensor([scores["dsb_score"]], dtype=torch.float64, device=run.device)
        dist.broadcast(shared, 0)
        scores["dsb_score"] = float(shared[0])
    return scores


def end_epoch(run: Run, epoch: int, loss: float, scores: dict, quiet: bool) -> bool:
    """Record an epoch: history, best model, checkpoint, curves. True when training should
    stop early (no better validation score for ``patience`` epochs)."""
    import pandas as pd

    from cellseg.io.write import write_csv
    from cellseg.model.store import save_model
    from cellseg.viz.plots import save, training_curves
    cfg = run.cfg
    lr = run.opt.param_groups[0]["lr"]
    if run.sched is not None:
        run.sched.step(scores["dsb_score"]) if cfg.schedule == "plateau" else run.sched.step()
    run.history.append({"epoch": epoch + 1, "train_loss": loss,
                        "val_dsb_score": scores["dsb_score"], "val_ap50": scores["ap50"],
                        "val_pixel_iou": scores["pixel_iou"], "lr": lr,
                        "elapsed_s": round(time.time() - run.t0, 1)})
    improved = scores["dsb_score"] > run.best_score
    run.best_score, run.stale = (scores["dsb_score"], 0) if improved else (run.best_score,
                                                                           run.stale + 1)
    if run.rank == 0:
        if improved:
            run.model.card["best_epoch"] = epoch + 1
            save_model(run.val_model, run.out)
        run.checkpoint(epoch)
    run.last_done = epoch  # from here on an interruption keeps this epoch
    if run.rank == 0:
        write_csv(run.out / "history.csv", pd.DataFrame(run.history))
        save(training_curves(run.history), run.out / "training_curve.png")
    if not quiet:
        # run.t0 counts the time of the epochs before a resume too, so divide by all of them
        eta = (time.time() - run.t0) / (epoch + 1) * (cfg.epochs - epoch - 1)
        print(f"epoch {epoch + 1}/{cfg.epochs}  loss {loss:.4f}  val DSB "
              f"{scores['dsb_score']:.3f}  AP50 {scores['ap50']:.3f}  "
              f"{'(best) ' if improved else ''}ETA {eta / 60:.0f} min", flush=True)
    return run.stale >= cfg.patience


def train(data: list[str | Path], out_dir: str | Path, config: TrainConfig | None = None, *,
          resume: bool = False, quiet: bool = False):
    """Train a U-Net on annotated dataset folders and save the best model in ``out_dir``.

    Parameters
    ----------
    data : dataset folders (any layout :func:`cellseg.io.datasets.open_dataset` reads).
    out_dir : model folder to write (model, checkpoint, history, curves).
    config : training options (default :class:`TrainConfig`).
    resume : continue from ``out_dir/checkpoint``.

    Returns
    -------
    The best :class:`cellseg.model.TrainedModel` (None on non-zero ranks under torchrun).
    """
    import torch

    from cellseg.training.data import load_annotated, split
    cfg = config or TrainConfig()
    rank, world, device = distributed_setup()
    quiet = quiet or rank != 0
    out = Path(out_dir)
    if resume and not (out / "checkpoint" / "state.json").exists():
        raise InputError(out / "checkpoint", "no checkpoint to resume from")
    torch.manual_seed(cfg.seed)
    items = load_annotated(list(data), types=cfg.types, quiet=quiet)
    tr_idx, val_idx = split(items, val_groups=cfg.val_groups, val_fraction=cfg.val_fraction,
                            seed=cfg.split_seed, leave_out=cfg.leave_out)
    if not tr_idx or not val_idx:
        raise InputError(data[0], f"need images for training and validation, got "
                         f"{len(tr_idx)} and {len(val_idx)} (of {len(items.ids)})")
    dataset = crop_dataset(cfg, items, tr_idx, rank)
    val_every = sorted(np.random.default_rng(cfg.split_seed).permutation(val_idx)
                       [:cfg.val_max_images].tolist())
    run = start(cfg, new_model(cfg, items, tr_idx, val_idx, data), out, device=device,
                rank=rank, world=world, resume=resume)
    run_epochs(run, dataset, [items.images[i] for i in val_every],
               [items.labels[i] for i in val_every], quiet)
    return finish_run(run, [items.images[i] for i in val_idx],
                      [items.labels[i] for i in val_idx], quiet)


def run_epochs(run: Run, dataset, val_images, val_truths, quiet: bool) -> None:
    """Epochs from the run's start to the end or an early stop; Ctrl-C / SIGTERM leave a
    checkpoint of the last finished epoch and re-raise KeyboardInterrupt.

    SIGTERM only sets a flag that the loop reads before each step and each epoch, so that no
    library caught in the middle of a call (plotting, writing) can swallow the interruption.
    """
    def on_term(signum, frame):
        run.stop_requested = True
    old = signal.signal(signal.SIGTERM, on_term)
    try:
        for epoch in range(run.start_epoch, run.cfg.epochs):
            if run.stop_requested:
                raise KeyboardInterrupt
            loss = train_epoch(run, dataset, epoch, quiet)
            if end_epoch(run, epoch, loss, validate(run, val_images, val_truths), quiet):
                if not quiet:
                    print(f"early stop: no better validation score for {run.cfg.patience} "
                          "epochs")
                break
    except KeyboardInterrupt:
        if run.rank == 0:
            run.checkpoint(run.last_done)
            if not quiet:
                print(f"interrupted: last checkpoint in {run.out / 'checkpoint'}; continue "
                      "with --resume")
        raise
    finally:
        signal.signal(signal.SIGTERM, old)


def finish_run(run: Run, val_images, val_truths, quiet: bool):
    """Reload the best model, tune its thresholds on all validation images, record the
    training time and hardware, save it; returns it (rank 0) or None."""
    from cellseg.model.store import load_model, save_model
    from cellseg.training.tune import finish, predict_all
    if run.world > 1:
        import torch.distributed as dist
        dist.barrier()
        if run.rank != 0:
            dist.destroy_process_group()
            return None
    best = load_model(run.out).to(run.device)
    scores = finish(best, predict_all(best, val_images), val_truths)
    best.card["training"].update(seconds=round(time.time() - run.t0, 1), device=run.device,
                                 hardware=hardware(run.device, run.bf16),
                                 epochs_run=len(run.history))
    save_model(best, run.out)
    if run.world > 1:
        import torch.distributed as dist
        dist.destroy_process_group()
    if not quiet:
        print(f"best model: {run.out} (validation DSB {scores['dsb_score']:.3f}, AP50 "
              f"{scores['ap50']:.3f}, pixel IoU {scores['pixel_iou']:.3f}; thresholds "
              f"{best.params.to_dict()})")
    return best
