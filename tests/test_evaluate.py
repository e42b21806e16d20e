"""Metrics against cases computed by hand."""
import numpy as np
import pytest

from cellseg.core.metrics import (
    contingency,
    evaluate,
    image_row,
    image_scores,
    iou_matrix,
)


def squares(*boxes, shape=(20, 20)):
    lab = np.zeros(shape, np.int32)
    for i, (y0, y1, x0, x1) in enumerate(boxes, 1):
        lab[y0:y1, x0:x1] = i
    return lab


A = (0, 4, 0, 4)      # 16 px
B = (10, 14, 10, 14)  # 16 px


def test_perfect():
    t = squares(A, B)
    s = evaluate(t, t)
    assert s["dsb_score"] == 1 and s["ap50"] == 1 and s["f1_50"] == 1 and s["seg"] == 1
    assert s["pixel_iou"] == 1 and s["count_mae"] == 0


def test_both_empty_and_prediction_empty():
    empty = np.zeros((20, 20), np.int32)
    assert evaluate(empty, empty)["dsb_score"] == 1.0
    s = evaluate(squares(A), empty)
    assert s["dsb_score"] == 0 and s["ap50"] == 0 and s["count_mae"] == 1 and s["seg"] == 0


def test_one_missed():
    s = evaluate(squares(A, B), squares(A))
    assert s["dsb_score"] == pytest.approx(0.5)  # 1 TP, 1 FN at every threshold
    assert s["f1_50"] == pytest.approx(2 / 3)
    assert s["seg"] == pytest.approx(0.5)
    assert s["pixel_iou"] == pytest.approx(0.5) and s["pixel_recall"] == pytest.approx(0.5)


def test_one_split():
    truth = squares((0, 4, 0, 8))                    # 32 px
    pred = squares((0, 4, 0, 5), (0, 4, 5, 8))       # 20 px + 12 px
    s = image_scores(truth, pred)
    # IoU 20/32 = 0.625 matches at 0.50, 0.55, 0.60 -> TP 1 FP 1 (1/2); else FP 2 FN 1 (0)
    assert s["dsb_score"] == pytest.approx(3 * 0.5 / 10)
    assert s["seg"] == pytest.approx(0.625)


def test_one_merged():
    truth = squares((0, 4, 0, 4), (0, 4, 4, 8))      # two 16 px squares
    pred = squares((0, 4, 0, 8))                     # one 32 px
    s = evaluate(truth, pred)
    # each true square has IoU 16/32 = 0.5 with the merged object: not above 0.5, no match
    assert s["dsb_score"] == 0 and s["count_mae"] == 1
    # SEG: the merged object covers all of each square (> half), so each scores its IoU 0.5
    assert s["seg"] == pytest.approx(0.5)


def test_iou_threshold_is_strict():
    truth = squares((0, 4, 0, 4), (0, 4, 4, 8))
    pred = squares((0, 4, 0, 8))
    s = image_scores(truth, pred, thresholds=(0.5, 0.45))
    assert s["tp"] == [0, 1] and s["fn"] == [2, 1] and s["fp"] == [1, 0]


def test_contingency_and_iou_known_values():
    t = squares((0, 4, 0, 4))
    p = squares((0, 4, 2, 6))
    table = contingency(t, p)
    assert table[1, 1] == 8 and table[1, 0] == 8 and table[0, 1] == 8
    assert iou_matrix(table)[0, 0] == pytest.approx(8 / 24)


def test_ap_is_pooled_over_images():
    t1, p1 = squares(A, B), squares(A, B)
    t2, p2 = squares(A), np.zeros((20, 20), np.int32)
    s = evaluate([t1, t2], [p1, p2])
    assert s["ap50"] == pytest.approx(2 / 3)   # 2 TP, 1 FN pooled
    assert s["dsb_score"] == pytest.approx(0.5)  # per image 1 and 0


def test_gaps_in_label_numbers_do_not_count_as_objects():
    t = squares(A, B)
    t[t == 2] = 5
    assert evaluate(t, t)["dsb_score"] == 1.0


def test_panoptic_quality_and_aji_hand_computed():
    """Truth: two 4x4 squares (16 px each). Prediction: the first square exactly, a 4x2 half
    of the second (IoU 8/16 = 0.5, not above 0.5: no match) and an extra 2x2 square.

    PQ: TP 1, FP 2, FN 1 -> F1 = 2/(2+3) = 0.4; mean matched IoU 1.0 -> PQ 0.4.
    AJI: truth 1 pairs with pred 1: I 16, U 16; truth 2 pairs with the half: I 8, U 16;
    the extra square is unpaired: U += 4. AJI = 24 / 36.
    """
    truth = np.zeros((20, 20), np.int32)
    truth[1:5, 1:5] = 1
    truth[10:14, 10:14] = 2
    pred = np.zeros_like(truth)
    pred[1:5, 1:5] = 3
    pred[10:14, 10:12] = 5
    pred[16:18, 16:18] = 9
    s = evaluate(truth, pred)
    assert s["pq"] == pytest.approx(0.4)
    assert s["aji"] == pytest.approx(24 / 36)
    row = image_row(image_scores(truth, pred))
    assert row["pq"] == pytest.approx(0.4) and row["aji"] == pytest.approx(24 / 36)


def test_pq_and_aji_are_means_over_images():
    t = np.zeros((10, 10), np.int32)
    t[2:6, 2:6] = 1
    p = np.zeros_like(t)
    p[2:6, 2:8] = 1  # IoU 16/24: PQ = AJI = 2/3
    empty = np.zeros_like(t)
    s = evaluate([t, t], [p, empty])  # second image: everything missed, PQ = AJI = 0
    assert s["pq"] == pytest.approx(1 / 3) and s["aji"] == pytest.approx(1 / 3)
    assert evaluate(empty, empty)["pq"] == 1.0 and evaluate(empty, empty)["aji"] == 1.0
