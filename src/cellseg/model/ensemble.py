"""Several trained networks read as one: the mean of their probability maps.

Two networks of different architecture (a U-Net from scratch and one on an ImageNet-pretrained
encoder) do not make the same mistakes; where only one of them sees a spurious object or a
split, the mean of their maps does not (cells 0.15.0: 33 unmatched objects instead of 42, 4
split cells instead of 7; the outlines themselves are no tighter; ``docs/measurements.md``). An
:class:`Ensemble` is an ordinary network to the rest of cellseg: tiles, test-time
augmentation, the ONNX export and every instance step see one (N, C, H, W) output.

A model card describes an ensemble with ``architecture: {"members": [arch, arch, ...]}``,
one U-Net architecture per member, and its weights file holds ``members.<i>.<name>`` tensors.
``scripts/average_models.py --outputs`` writes one.
"""
from __future__ import annotations

import math

import torch
from torch import nn


LOGIT_EPS = 1e-6  # probabilities are clamped to [eps, 1 - eps] before the logit


class Ensemble(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, H, W) logits whose sigmoid is the mean of
    the members' sigmoid outputs (every output channel, flows included: they are predicted
    through a sigmoid too).

    Parameters
    ----------
    members : networks with the same input and output channels (:class:`UNet` or
        :class:`EfficientUNet`), in eval mode when used for prediction.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two networks")
        channels = {(m.cfg.in_channels, m.cfg.out_channels) for m in members}
        if len(channels) > 1:
            raise ValueError(f"the networks' (input, output) channels differ: {sorted(channels)}")
        self.members = nn.ModuleList(members)
        self.cfg = members[0].cfg  # read for in_channels and out_channels, which all share

    @property
    def multiple(self) -> int:
        """Tile sides must be multiples of this (pixels): every member's multiple."""
        return math.lcm(*(m.multiple for m in self.members))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.stack([torch.sigmoid(m(x).float()) for m in self.members]).mean(0)
        return torch.logit(mean, eps=LOGIT_EPS)


def is_ensemble(card: dict) -> bool:
    """Whether the model card ``card`` describes an :class:`Ensemble`."""
    return "members" in card.get("architecture", {})


def network_from_architecture(architecture: dict) -> nn.Module:
    """The untrained network of a card's ``architecture``: one U-Net, or an
    :class:`Ensemble` of one per entry of ``members``."""
    from cellseg.model.unet import UNetConfig, build_network
    if "members" in architecture:
        return Ensemble([build_network(UNetConfig.from_dict(a))
                         for a in architecture["members"]])
    return build_network(UNetConfig.from_dict(architecture))


def first_network(model):
    """``model`` (a :class:`TrainedModel`) itself, or for an ensemble a model of its first
    network alone, with that network's architecture in its card: what training starts from
    (``--init``), since an ensemble's networks train one by one."""
    if not is_ensemble(model.card):
        return model
    from cellseg.model.trained import TrainedModel
    training = dict(model.card.get("training", {}))
    record = (training.pop("members", None) or [{}])[0]  # the first network's own training
    training["seconds"] = record.get("seconds")
    first = TrainedModel(model.net.members[0],
                         {**model.card, "architecture": model.card["architecture"]["members"][0],
                          "training": training})
    first.source = getattr(model, "source", None)
    return first
