"""Widen a trained U-Net without changing what it computes (Net2WiderNet, Chen et al. 2016).

A network of base width ``w`` becomes one of base width ``W > w``: each layer's new channel
``j`` copies old channel ``j mod c`` (``c`` the layer's old channel count), and a layer that
reads copied channels divides each input weight by the number of copies of its channel, so
the wider network's output equals the narrower one's. Small noise on the copied weights then
lets the copies learn apart in training. Used by ``cellseg train`` to start a wider network
from a trained one (``init`` with a larger ``network.width``).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import nn

from cellseg.model.unet import ConvBlock, UNet


def _copies(old: int, new: int) -> np.ndarray:
    """(new,) index of the old channel each new channel copies."""
    return np.arange(new) % old


def _copy_conv(old: nn.Module, new: nn.Module, out_map: np.ndarray, in_map: np.ndarray,
               noise: float, rng: torch.Generator) -> None:
    """Fill Conv2d/ConvTranspose2d ``new`` from ``old``: new output ``j`` copies old output
    ``out_map[j]``, new input ``k`` old input ``in_map[k]``, each input weight divided by the
    number of copies of its channel."""
    transposed = isinstance(old, nn.ConvTranspose2d)
    w = old.weight.detach()
    if transposed:  # (in, out, kh, kw) -> (out, in, kh, kw)
        w = w.transpose(0, 1)
    counts = np.bincount(in_map, minlength=w.shape[1]).astype(np.float32)
    scale = torch.from_numpy(1.0 / counts[in_map]).view(1, -1, 1, 1)
    w = w[torch.from_numpy(out_map)][:, torch.from_numpy(in_map)] * scale
    if noise > 0:
        w = w + noise * w.std() * torch.randn(w.shape, generator=rng)
    with torch.no_grad():
        new.weight.copy_(w.transpose(0, 1) if transposed else w)
        if old.bias is not None:
            new.bias.copy_(old.bias.detach()[torch.from_numpy(out_map)])


def _copy_norm(old: nn.Module, new: nn.Module, out_map: np.ndarray) -> None:
    """Fill BatchNorm2d/InstanceNorm2d ``new`` (parameters and running statistics) with old
    channel ``out_map[j]`` for each new channel ``j``."""
    index = torch.from_numpy(out_map)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            source = getattr(old, name, None)
            if source is not None:
                getattr(new, name).copy_(source.detach()[index])
        if getattr(old, "num_batches_tracked", None) is not None:
            new.num_batches_tracked.copy_(old.num_batches_tracked)


def _copy_block(old: ConvBlock, new: ConvBlock, out_map: np.ndarray, in_map: np.ndarray,
                noise: float, rng: torch.Generator) -> None:
    """Fill ConvBlock ``new`` from ``old``: inputs ``in_map``, both convolutions' outputs
    ``out_map``."""
    reads = in_map
    for a, b in zip(old, new):
        if isinstance(a, nn.Conv2d):
            _copy_conv(a, b, out_map, reads, noise, rng)
            reads = out_map
        elif isinstance(a, (nn.BatchNorm2d, nn.InstanceNorm2d)):
            _copy_norm(a, b, out_map)


def widen_unet(net: UNet, width: int, *, noise: float = 0.01, seed: int = 0) -> UNet:
    """A :class:`UNet` of base width ``width`` computing what ``net`` computes.

    Parameters
    ----------
    net : a plain U-Net (not the EfficientNet encoder) of base width ``w <= width``.
    width : the new base width; every level's channel count grows by ``width / w``.
    noise : standard deviation of the Gaussian noise added to each widened convolution's
        weights, relative to their standard deviation (0: the outputs are equal up to float
        rounding; copies of a channel then stay identical in training).
    seed : seed of that noise.
    """
    cfg = net.cfg
    if not isinstance(net, UNet) or cfg.encoder != "plain":
        raise ValueError("only a plain U-Net can be widened")
    if width < cfg.width:
        raise ValueError(f"cannot narrow a U-Net (width {cfg.width} -> {width})")
    rng = torch.Generator().manual_seed(seed)
    wide = UNet(replace(cfg, width=width))
    old_w = [cfg.width * 2**i for i in range(cfg.depth + 1)]
    new_w = [width * 2**i for i in range(cfg.depth + 1)]
    maps = [_copies(o, n) for o, n in zip(old_w, new_w)]
    in_map = np.arange(cfg.in_channels)
    for level, (old, new) in enumerate(zip(net.down, wide.down)):
        _copy_block(old, new, maps[level], in_map, noise, rng)
        in_map = maps[level]
    _copy_block(net.bottom, wide.bottom, maps[-1], maps[-2], noise, rng)
    for i in range(cfg.depth):
        level = cfg.depth - 1 - i
        _copy_conv(net.up[i], wide.up[i], maps[level], maps[level + 1], noise, rng)
        # merge reads cat([up(x), skip]), both with this level's channels
        merged = np.concatenate([maps[level], maps[level] + old_w[level]])
        _copy_block(net.merge[i], wide.merge[i], maps[level], merged, noise, rng)
    _copy_conv(net.head, wide.head, np.arange(cfg.out_channels), maps[0], 0.0, rng)
    return wide
