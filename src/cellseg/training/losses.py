"""Segmentation losses on logits, selectable by name (:func:`get_loss`).

Every loss takes ``logits`` and ``target`` of the same shape (N, C, H, W), target in [0, 1],
and returns a scalar tensor. Overlap losses (Dice, Jaccard, Tversky) are computed per image and
channel, then averaged; ``eps`` keeps an empty image and an empty prediction at loss 0.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def bce(logits, target):
    """Binary cross-entropy, mean over pixels."""
    return F.binary_cross_entropy_with_logits(logits, target)


def weighted_bce(logits, target, pos_weight: float | None = None):
    """BCE with foreground pixels weighted ``pos_weight`` (default: background/foreground ratio
    of this batch, so both classes weigh the same in total)."""
    if pos_weight is None:
        fg = target.sum()
        pos_weight = float(((target.numel() - fg) / fg.clamp(min=1.0)).clamp(1.0, 100.0))
    w = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, target, pos_weight=w)


def _overlaps(logits, target):
    p = torch.sigmoid(logits)
    dims = tuple(range(2, logits.ndim))
    tp = (p * target).sum(dims)
    fp = (p * (1 - target)).sum(dims)
    fn = ((1 - p) * target).sum(dims)
    return tp, fp, fn


def dice(logits, target, eps: float = 1.0):
    """Soft Dice loss 1 - (2TP + eps) / (2TP + FP + FN + eps)."""
    tp, fp, fn = _overlaps(logits, target)
    return (1 - (2 * tp + eps) / (2 * tp + fp + fn + eps)).mean()


def jaccard(logits, target, eps: float = 1.0):
    """Soft Jaccard (IoU) loss 1 - (TP + eps) / (TP + FP + FN + eps)."""
    tp, fp, fn = _overlaps(logits, target)
    return (1 - (tp + eps) / (tp + fp + fn + eps)).mean()


def tversky(logits, target, alpha: float = 0.3, beta: float = 0.7, eps: float = 1.0):
    """Tversky loss 1 - (TP + eps) / (TP + alpha FP + beta FN + eps); beta > alpha favours recall."""
    tp, fp, fn = _overlaps(logits, target)
    return (1 - (tp + eps) / (tp + alpha * fp + beta * fn + eps)).mean()


def focal(logits, target, gamma: float = 2.0, alpha: float = 0.25):
    """Focal loss (Lin et al. 2017): BCE scaled by (1 - p_t)**gamma, alpha for the foreground."""
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    a_t = alpha * target + (1 - alpha) * (1 - target)
    return (a_t * (1 - p_t) ** gamma * ce).mean()


def bce_dice(logits, target):
    """BCE + Dice, the usual default for nuclei."""
    return bce(logits, target) + dice(logits, target)


def combo(logits, target, w: float = 0.5):
    """Combo loss (Taghanaki et al. 2019): w * weighted BCE + (1 - w) * Dice."""
    return w * weighted_bce(logits, target) + (1 - w) * dice(logits, target)


LOSSES: dict[str, Callable] = {
    "bce": bce, "weighted_bce": weighted_bce, "dice": dice, "bce_dice": bce_dice,
    "jaccard": jaccard, "focal": focal, "tversky": tversky, "combo": combo,
}


def get_loss(name: str) -> Callable:
    """Loss function by name; raises ValueError listing the names on an unknown one."""
    key = name.lower().replace("-", "_").replace("+", "_")
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[key]


def segmentation_loss(logits, target, foreground_loss: Callable, edge: bool = False):
    """Loss of the network's outputs (N, C, H, W): C = 2 (foreground, centre distance), 3
    (and object rims) or 4 (and flows y, x): the chosen loss on the foreground and on the
    rims, BCE on the centre distance, and for flows 5 x the mean squared error of the vectors
    (2 sigmoid - 1 against 2 target - 1; Cellpose weighs its flow loss the same way).

    A target channel beyond the C outputs, when present, weighs each pixel's centre-distance
    BCE and flow error (see ``cellseg.training.targets.separation_weight``), normalised by
    the weights: where two objects touch, the flows must part.

    With ``edge``, the last target channel weighs each pixel's foreground BCE (see
    ``cellseg.training.targets.edge_weight``), added to the foreground loss normalised by
    the weights: the outlines count more.
    """
    n = logits.shape[1]
    loss = foreground_loss(logits[:, :1], target[:, :1])
    if edge:
        w_edge, target = target[:, -1:], target[:, :-1]
        per_pixel = F.binary_cross_entropy_with_logits(logits[:, :1], target[:, :1],
                                                       reduction="none")
        loss = loss + (per_pixel * w_edge).sum() / w_edge.sum()
    w = target[:, n:n + 1] if target.shape[1] > n else None
    if n == 3:
        loss = loss + foreground_loss(logits[:, 2:3], target[:, 2:3])
    elif n == 4:
        vectors = 2 * torch.sigmoid(logits[:, 2:4]) - 1
        error = (vectors - (2 * target[:, 2:4] - 1)) ** 2
        loss = loss + 5 * (error.mean() if w is None else (error * w).sum() / (2 * w.sum()))
    if w is None:
        return loss + bce(logits[:, 1:2], target[:, 1:2])
    per_pixel = F.binary_cross_entropy_with_logits(logits[:, 1:2], target[:, 1:2], reduction="none")
    return loss + (per_pixel * w).sum() / w.sum()
