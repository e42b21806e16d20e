"""Each loss against a value computed by hand on a 2-pixel example.

logits (0, ln 3) -> probabilities (0.5, 0.75); target (1, 0).
"""
import math

import pytest
import torch

from cellseg.training.losses import LOSSES, get_loss

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


def test_separation_weight_and_weighted_distance_loss():
    import numpy as np

    from cellseg.training.losses import segmentation_loss
    from cellseg.training.targets import make_targets, separation_weight
    lab = np.zeros((20, 30), np.int32)
    lab[5:15, 5:15] = 1
    lab[5:15, 15:25] = 2  # touches object 1 along columns 14|15
    w = separation_weight(lab, weight=5.0, sigma=3.0)
    assert w[10, 14] == pytest.approx(6.0) and w[10, 15] == pytest.approx(6.0)
    assert w[10, 11] == pytest.approx(1 + 5 * math.exp(-9 / 18))  # 3 px from the border line
    assert w[0, 0] == pytest.approx(1.0, abs=1e-3)
    apart = lab.copy()
    apart[:, 15] = 0
    assert np.all(separation_weight(apart) == 1.0)  # nothing touches: no emphasis
    # All-ones weights give the unweighted loss; a weighted pixel counts in proportion.
    target = torch.from_numpy(make_targets(lab, separation=5.0))[None]
    logits = torch.randn(1, 2, 20, 30)
    fg = get_loss("bce")
    ones = torch.cat([target[:, :2], torch.ones_like(target[:, :1])], 1)
    assert segmentation_loss(logits, ones, fg) == pytest.approx(
        float(segmentation_loss(logits, target[:, :2], fg)), rel=1e-5)
    per_pixel = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[:, 1:], target[:, 1:2], reduction="none")
    expected = fg(logits[:, :1], target[:, :1]) + (per_pixel * target[:, 2:]).sum() / target[:, 2:].sum()
    assert float(segmentation_loss(logits, target, fg)) == pytest.approx(float(expected), rel=1e-5)


def test_separation_weight_emphasises_the_flows_where_objects_touch():
    """A flows model with ``separation``: the flow error counts more where two objects touch,
    and all-ones weights give the unweighted loss."""
    import numpy as np

    from cellseg.training.losses import segmentation_loss
    from cellseg.training.targets import make_targets
    lab = np.zeros((20, 30), np.int32)
    lab[5:15, 5:15] = 1
    lab[5:15, 15:25] = 2
    target = torch.from_numpy(make_targets(lab, separation=5.0, representation="flows"))[None]
    assert target.shape[1] == 5
    fg = get_loss("bce")
    logits = torch.zeros(1, 4, 20, 30)  # flows predicted as 0 everywhere
    ones = torch.cat([target[:, :4], torch.ones_like(target[:, :1])], 1)
    assert float(segmentation_loss(logits, ones, fg)) == pytest.approx(
        float(segmentation_loss(logits, target[:, :4], fg)), rel=1e-5)
    # Right flows at the touching border, wrong ones elsewhere: the weighted loss is lower
    # than the unweighted one, and the other way round.
    near = torch.from_numpy(target[0, 4].numpy() > 2.0)
    right_there = target[:, 2:4].clone()
    right_there[:, :, ~near] = 1 - right_there[:, :, ~near]
    wrong_there = target[:, 2:4].clone()
    wrong_there[:, :, near] = 1 - wrong_there[:, :, near]
    for flows, lower in ((right_there, True), (wrong_there, False)):
        lg = torch.cat([logits[:, :2], torch.logit(flows.clamp(1e-4, 1 - 1e-4))], 1)
        weighted = float(segmentation_loss(lg, target, fg))
        plain = float(segmentation_loss(lg, ones, fg))
        assert (weighted < plain) == lower


def test_edge_weight_emphasises_the_outlines_in_the_foreground_loss():
    """``edge``: the foreground BCE counts more on both sides of each object's outline, and
    the last target channel (after the separation weights) carries it."""
    import numpy as np

    from cellseg.training.losses import segmentation_loss
    from cellseg.training.targets import edge_weight, make_targets
    lab = np.zeros((30, 30), np.int32)
    lab[10:20, 10:20] = 1
    w = edge_weight(lab, weight=3.0, sigma=2.0)
    assert w[15, 10] == pytest.approx(4.0) and w[15, 9] == pytest.approx(4.0)  # the outline
    assert w[15, 15] == pytest.approx(1 + 3 * math.exp(-16 / 8), rel=1e-4)  # 4 px inside
    assert w[0, 0] == pytest.approx(1.0)
    assert np.all(edge_weight(np.zeros((5, 5), np.int32)) == 1.0)
    target = torch.from_numpy(make_targets(lab, separation=5.0, representation="flows",
                                           edge=3.0))[None]
    assert target.shape[1] == 6 and torch.equal(target[0, 5], torch.from_numpy(w))
    fg = get_loss("dice")
    logits = torch.randn(1, 4, 30, 30)
    per_pixel = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[:, :1], target[:, :1], reduction="none")
    expected = (segmentation_loss(logits, target[:, :5], fg)
                + (per_pixel * target[:, 5:]).sum() / target[:, 5:].sum())
    assert float(segmentation_loss(logits, target, fg, edge=True)) == pytest.approx(
        float(expected), rel=1e-5)
