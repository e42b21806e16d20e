"""Each loss against a value computed by hand on a 2-pixel example.

logits (0, ln 3) -> probabilities (0.5, 0.75); target (1, 0).
"""
import math

import pytest
import torch

from cellseg.nn.losses import LOSSES, get_loss

LOGITS = torch.tensor([0.0, math.log(3.0)]).view(1, 1, 1, 2)
TARGET = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
P = (0.5, 0.75)
TP, FP, FN = 0.5, 0.75, 0.5
BCE = (-math.log(0.5) - math.log(0.25)) / 2

EXPECTED = {
    "bce": BCE,
    "weighted_bce": (-1.0 * math.log(0.5) - math.log(0.25)) / 2,  # 1 fg, 1 bg: weight 1
    "dice": 1 - (2 * TP + 1) / (2 * TP + FP + FN + 1),
    "jaccard": 1 - (TP + 1) / (TP + FP + FN + 1),
    "tversky": 1 - (TP + 1) / (TP + 0.3 * FP + 0.7 * FN + 1),
    "focal": (0.25 * 0.5**2 * -math.log(0.5) + 0.75 * 0.75**2 * -math.log(0.25)) / 2,
    "bce_dice": BCE + 1 - (2 * TP + 1) / (2 * TP + FP + FN + 1),
    "combo": 0.5 * BCE + 0.5 * (1 - (2 * TP + 1) / (2 * TP + FP + FN + 1)),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_hand_computed(name):
    assert float(get_loss(name)(LOGITS, TARGET)) == pytest.approx(EXPECTED[name], rel=1e-5)


def test_weighted_bce_given_weight():
    w = get_loss("weighted_bce")(LOGITS, TARGET, pos_weight=3.0)
    assert float(w) == pytest.approx((-3 * math.log(0.5) - math.log(0.25)) / 2, rel=1e-5)


def test_perfect_prediction_has_near_zero_overlap_loss():
    t = torch.zeros(1, 1, 4, 4); t[..., :2, :2] = 1
    logits = (t * 2 - 1) * 20
    for name in ("dice", "jaccard", "tversky"):
        assert float(get_loss(name)(logits, t)) < 1e-6


def test_unknown_loss_lists_the_names():
    with pytest.raises(ValueError, match="choose one of bce, weighted_bce"):
        get_loss("hinge")
    assert get_loss("BCE+Dice") is LOSSES["bce_dice"]
