"""Pixel and instance metrics of predicted label images against ground truth.

Instance matching is exact: IoUs come from the contingency table of the two label images, and
pairs whose IoU is above the threshold (strictly, as in the DSB2018 rules) are matched
one-to-one by the Hungarian algorithm on IoU (for thresholds >= 0.5 the match is unique
anyway). Definitions:

- DSB2018 score of an image: mean over IoU thresholds 0.50, 0.55, ..., 0.95 of
  TP / (TP + FP + FN); the dataset score is the mean over images.
- AP at threshold t (as in the StarDist paper): TP / (TP + FP + FN), pooled over all objects.
- F1 at t: 2 TP / (2 TP + FP + FN), pooled.
- CTC SEG: for each true object, the IoU with the predicted object that covers more than half
  of it (0 if none); mean over true objects.
- Panoptic quality (PQ, Kirillov et al. 2019, per image as HoVer-Net reports it): F1 at IoU 0.5
  x mean IoU of the matched pairs; the dataset PQ is the mean over images.
- Aggregated Jaccard Index (AJI, Kumar et al. 2017): each true object is paired with the
  predicted object of highest IoU; AJI = sum of their intersections / (sum of their unions +
  areas of predicted objects paired with no true object); mean over images.

Every function takes the ground truth first, then the prediction (as StarDist's
``matching(y_true, y_pred)``).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

DSB_THRESHOLDS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))


def contingency(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(n_true + 1, n_pred + 1) int64 table of pixel counts; row/column 0 is background."""
    if truth.shape != pred.shape:
        raise ValueError(f"truth shape {truth.shape} differs from prediction shape {pred.shape}")
    t = np.asarray(truth, np.int64).ravel()
    p = np.asarray(pred, np.int64).ravel()
    nt, np_ = int(t.max(initial=0)) + 1, int(p.max(initial=0)) + 1
    return np.bincount(t * np_ + p, minlength=nt * np_).reshape(nt, np_)


def iou_matrix(table: np.ndarray) -> np.ndarray:
    """(n_true, n_pred) IoU of every true/predicted object pair, from a contingency table.

    Label ids missing from an image (gaps in the numbering) give rows/columns of zeros that
    match nothing.
    """
    inter = table[1:, 1:].astype(np.float64)
    area_t = table[1:, :].sum(1, keepdims=True)
    area_p = table[:, 1:].sum(0, keepdims=True)
    union = area_t + area_p - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclass
class Matching:
    """Counts of one image at one IoU threshold."""

    tp: int
    fp: int
    fn: int
    matched_iou: float  # sum of the IoUs of matched pairs


def match(iou: np.ndarray, threshold: float, n_true: int, n_pred: int) -> Matching:
    """One-to-one matching of objects with IoU > threshold maximizing the total IoU."""
    if n_true == 0 or n_pred == 0:
        return Matching(0, n_pred, n_true, 0.0)
    cost = np.where(iou > threshold, iou, 0.0)
    rows, cols = linear_sum_assignment(-cost)
    ok = cost[rows, cols] > threshold
    tp = int(ok.sum())
    return Matching(tp, n_pred - tp, n_true - tp, float(cost[rows, cols][ok].sum()))


def _present(table: np.ndarray, axis: int) -> np.ndarray:
    return table[1:, :].sum(1) > 0 if axis == 0 else table[:, 1:].sum(0) > 0


def image_scores(truth: np.ndarray, pred: np.ndarray,
                 thresholds=DSB_THRESHOLDS) -> dict:
    """Instance and pixel scores of one image; counts per threshold for pooling.

    Returns a dict with n_true, n_pred, dsb_score, seg, tp/fp/fn per threshold (lists), and the
    pixel confusion counts (px_tp, px_fp, px_fn, px_tn).
    """
    table = contingency(truth, pred)
    t_ok, p_ok = _present(table, 0), _present(table, 1)
    iou = iou_matrix(table)[t_ok][:, p_ok]
    n_true, n_pred = int(t_ok.sum()), int(p_ok.sum())
    matches = [match(iou, t, n_true, n_pred) for t in thresholds]
    per_t = [m.tp / (m.tp + m.fp + m.fn) if (m.tp + m.fp + m.fn) else 1.0 for m in matches]
    # CTC SEG: a predicted object covering > half of a true object
    inter = table[1:, 1:][t_ok][:, p_ok]
    area_t = table[1:, :].sum(1)[t_ok]
    seg = np.zeros(n_true)
    if n_pred and n_true:
        best = inter.argmax(1)
        covered = inter[np.arange(n_true), best] > 0.5 * area_t
        seg[covered] = iou[np.arange(n_true), best][covered]
    fg_t, fg_p = truth > 0, pred > 0
    m50 = matches[list(thresholds).index(0.5)] if 0.5 in thresholds else match(iou, 0.5, n_true,
                                                                              n_pred)
    return {
        "n_true": n_true, "n_pred": n_pred,
        "dsb_score": float(np.mean(per_t)),
        "seg": float(seg.mean()) if n_true else float("nan"),
        "pq": panoptic_quality(m50),
        "aji": aggregated_jaccard(inter, area_t, table[:, 1:].sum(0)[p_ok], iou),
        "thresholds": list(thresholds),
        "tp": [m.tp for m in matches], "fp": [m.fp for m in matches],
        "fn": [m.fn for m in matches], "matched_iou": [m.matched_iou for m in matches],
        "px_tp": int((fg_t & fg_p).sum()), "px_fp": int((~fg_t & fg_p).sum()),
        "px_fn": int((fg_t & ~fg_p).sum()), "px_tn": int((~fg_t & ~fg_p).sum()),
    }


def _ratio(a: float, b: float, empty: float = 1.0) -> float:
    return float(a / b) if b else empty


def panoptic_quality(m: Matching) -> float:
    """PQ of one image from its matching at IoU 0.5: F1 x mean IoU of matched pairs (1.0 when
    both images are empty, 0.0 when nothing matches).

    Examples
    --------
    >>> panoptic_quality(Matching(tp=2, fp=1, fn=1, matched_iou=1.5))   # F1 2/3 x IoU 0.75
    0.5
    """
    if m.tp + m.fp + m.fn == 0:
        return 1.0
    if m.tp == 0:
        return 0.0
    return float(2 * m.tp / (2 * m.tp + m.fp + m.fn) * m.matched_iou / m.tp)


def aggregated_jaccard(inter: np.ndarray, area_t: np.ndarray, area_p: np.ndarray,
                       iou: np.ndarray) -> float:
    """AJI of one image: ``inter`` (n_true, n_pred) pixel intersections, ``area_t`` (n_true,)
    and ``area_p`` (n_pred,) object areas, ``iou`` (n_true, n_pred). 1.0 when both images are
    empty."""
    n_true, n_pred = inter.shape
    if n_true == 0 and n_pred == 0:
        return 1.0
    used = np.zeros(n_pred, bool)
    c = u = 0.0
    for i in range(n_true):
        j = int(iou[i].argmax()) if n_pred else -1
        if j >= 0 and inter[i, j] > 0:
            c += inter[i, j]
            u += area_t[i] + area_p[j] - inter[i, j]
            used[j] = True
        else:
            u += area_t[i]
    u += area_p[~used].sum()
    return float(c / u) if u else 0.0


def pixel_metrics(tp: int, fp: int, fn: int, tn: int) -> dict:
    """Dice, IoU, precision, recall and accuracy of foreground pixels."""
    return {
        "pixel_dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "pixel_iou": _ratio(tp, tp + fp + fn),
        "pixel_precision": _ratio(tp, tp + fp),
        "pixel_recall": _ratio(tp, tp + fn),
        "pixel_accuracy": _ratio(tp + tn, tp + fp + fn + tn),
    }


def image_row(scores: dict) -> dict:
    """The per-image line of a results table from :func:`image_scores`."""
    i50 = scores["thresholds"].index(0.5)
    tp, fp, fn = scores["tp"][i50], scores["fp"][i50], scores["fn"][i50]
    return {
        "n_true": scores["n_true"], "n_pred": scores["n_pred"],
        "dsb_score": scores["dsb_score"], "ap50": _ratio(tp, tp + fp + fn),
        "f1_50": _ratio(2 * tp, 2 * tp + fp + fn), "seg": scores["seg"],
        "pq": scores["pq"], "aji": scores["aji"],
        "count_error": scores["n_pred"] - scores["n_true"],
        **pixel_metrics(scores["px_tp"], scores["px_fp"], scores["px_fn"], scores["px_tn"]),
    }


def summarize(per_image: list[dict]) -> dict:
    """Dataset scores from a list of :func:`image_scores` results.

    dsb_score, pq and aji are means over images; AP/F1 are pooled over all objects; pixel
    metrics are pooled over all pixels; count_mae is the mean absolute count error per image.
    """
    if not per_image:
        raise ValueError("no images to summarize")
    thresholds = per_image[0]["thresholds"]
    tp = np.sum([s["tp"] for s in per_image], axis=0)
    fp = np.sum([s["fp"] for s in per_image], axis=0)
    fn = np.sum([s["fn"] for s in per_image], axis=0)
    miou = np.sum([s["matched_iou"] for s in per_image], axis=0)
    out = {"images": len(per_image),
           "dsb_score": float(np.mean([s["dsb_score"] for s in per_image])),
           "pq": float(np.mean([s["pq"] for s in per_image])),
           "aji": float(np.mean([s["aji"] for s in per_image]))}
    for t, a, b, c in zip(thresholds, tp, fp, fn):
        key = f"{int(round(t * 100))}"
        out[f"ap{key}"] = _ratio(a, a + b + c)
        out[f"f1_{key}"] = _ratio(2 * a, 2 * a + b + c)
    i50 = thresholds.index(0.5)
    out["mean_matched_iou"] = _ratio(miou[i50], tp[i50], 0.0)
    out["precision_50"] = _ratio(tp[i50], tp[i50] + fp[i50])
    out["recall_50"] = _ratio(tp[i50], tp[i50] + fn[i50])
    seg_num = sum(s["seg"] * s["n_true"] for s in per_image if s["n_true"])
    n_true = sum(s["n_true"] for s in per_image)
    out["seg"] = _ratio(seg_num, n_true, float("nan"))
    out["count_mae"] = float(np.mean([abs(s["n_pred"] - s["n_true"]) for s in per_image]))
    out["n_true"], out["n_pred"] = int(n_true), int(sum(s["n_pred"] for s in per_image))
    px = {k: int(sum(s[k] for s in per_image)) for k in ("px_tp", "px_fp", "px_fn", "px_tn")}
    out.update(pixel_metrics(px["px_tp"], px["px_fp"], px["px_fn"], px["px_tn"]))
    out["confusion_matrix"] = [[px["px_tn"], px["px_fp"]], [px["px_fn"], px["px_tp"]]]
    return out


def evaluate(truth, pred) -> dict:
    """Scores of predicted label image(s) against ground truth label image(s).

    Parameters
    ----------
    truth : (H, W) int label image, or a list of them (0 = background).
    pred : the prediction(s), same shapes, in the same order.

    Returns
    -------
    dict of dataset scores: dsb_score, ap50 ... ap95, f1_50 ..., pq, aji, seg, count_mae,
    pixel_iou, pixel_dice, ..., n_true, n_pred, images (see :func:`summarize`).

    Examples
    --------
    >>> t = np.zeros((10, 10), int); t[2:6, 2:6] = 1
    >>> p = np.zeros((10, 10), int); p[2:6, 2:8] = 1          # IoU 16/24
    >>> s = evaluate(t, p)
    >>> s["f1_50"], round(s["pq"], 3), round(s["aji"], 3)
    (1.0, 0.667, 0.667)
    """
    if isinstance(pred, np.ndarray):
        pred, truth = [pred], [truth]
    if len(pred) != len(truth):
        raise ValueError(f"{len(truth)} ground truths for {len(pred)} predictions")
    return summarize([image_scores(t, p) for t, p in zip(truth, pred)])


ERROR_CLASSES = ("found", "merged", "split", "outline", "missed", "missed, small")


def object_errors(truth: np.ndarray, pred: np.ndarray) -> tuple[Counter, int]:
    """Kinds of error, per true object, of a prediction.

    Each true object is "found" (best IoU > 0.5), "merged" (best IoU 0.1-0.5 and its best
    predicted object holds > 50 % of another true object too), "split" (IoU 0.1-0.5, at least
    two predicted objects each hold 20 % or more of it), "outline" (IoU 0.1-0.5 otherwise),
    "missed" (IoU < 0.1) or "missed, small" (missed and under a quarter of the median true
    object area). Merged and split are :func:`merged_and_split`'s, as in :func:`error_map`.

    Parameters
    ----------
    truth, pred : (H, W) int label images, 0 = background.

    Returns
    -------
    (Counter of the true objects per class of ``ERROR_CLASSES``, number of predicted objects
    matching no true object at IoU > 0.5).

    Examples
    --------
    >>> t = np.zeros((20, 40), int); t[2:10, 2:10] = 1; t[2:10, 10:18] = 2; t[10:20, 20:30] = 3
    >>> p = np.zeros_like(t); p[2:10, 2:18] = 1; p[10:20, 20:25] = 2; p[10:20, 25:30] = 3
    >>> counts, unmatched = object_errors(t, p)
    >>> sorted(counts.items()), unmatched
    ([('merged', 2), ('split', 1)], 3)
    """
    table = contingency(truth, pred)
    area = table[1:].sum(1)
    present = area > 0
    if not present.any():
        return Counter(), len(np.unique(pred[pred > 0]))
    small = area < 0.25 * np.median(area[present])
    iou = iou_matrix(table)
    if iou.shape[1] == 0:
        return Counter(np.where(small, "missed, small", "missed")[present].tolist()), 0
    best, best_pred = iou.max(1), iou.argmax(1)
    merged, split = merged_and_split(table)
    partial = (best >= 0.1) & (best <= 0.5)
    kind = np.select([best > 0.5, partial & merged[best_pred], partial & split, partial, small],
                     [0, 1, 2, 3, 5], default=4)  # indices into ERROR_CLASSES
    pred_present = table[:, 1:].sum(0) > 0
    unmatched = int((pred_present & (iou.max(0) <= 0.5)).sum())
    return Counter(ERROR_CLASSES[k] for k in kind[present]), unmatched


def pixel_curves(probs: list[np.ndarray], truths: list[np.ndarray], bins: int = 256) -> dict:
    """ROC and precision-recall of foreground probabilities in [0, 1] vs true foreground.

    Probabilities are binned (``bins`` levels), so the curves are exact at that resolution and
    need memory for the histograms only. Returns fpr, tpr, precision, recall (lists),
    roc_auc and average_precision.
    """
    pos = np.zeros(bins, np.int64)
    neg = np.zeros(bins, np.int64)
    for p, t in zip(probs, truths):
        b = np.clip((np.asarray(p) * (bins - 1)).round().astype(np.int64), 0, bins - 1)
        fg = np.asarray(t) > 0
        pos += np.bincount(b[fg], minlength=bins)
        neg += np.bincount(b[~fg], minlength=bins)
    # threshold from high to low: predicted positive = bins >= k
    tp = np.cumsum(pos[::-1])
    fp = np.cumsum(neg[::-1])
    P, N = max(pos.sum(), 1), max(neg.sum(), 1)
    tpr = np.concatenate([[0], tp / P])
    fpr = np.concatenate([[0], fp / N])
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 1.0)
    recall = tp / P
    auc = float(np.trapezoid(tpr, fpr))
    ap = float(np.sum(np.diff(np.concatenate([[0], recall])) * precision))
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "precision": precision.tolist(),
            "recall": recall.tolist(), "roc_auc": auc, "average_precision": ap}


def merged_and_split(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(merged, split) from a contingency table: (n_pred,) bool, predicted objects covering
    more than half of two or more true objects; (n_true,) bool, true objects of which two or
    more predicted objects each cover a fifth or more."""
    inter = table[1:, 1:]
    area_t = table[1:, :].sum(1)
    merged = (inter > 0.5 * area_t[:, None]).sum(0) >= 2
    split = (inter >= 0.2 * area_t[:, None]).sum(1) >= 2
    return merged, split


def error_map(truth: np.ndarray, pred: np.ndarray, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Boolean masks of the kinds of error at an IoU threshold, for pictures.

    matched: predicted objects matched to a true one; extra: predicted objects matching none;
    missed: true objects nobody matched; merged: predicted objects covering more than half of
    two or more true objects; split: true objects of which two or more predicted objects each
    cover a fifth or more.
    """
    table = contingency(truth, pred)
    iou = iou_matrix(table)
    nt, np_ = iou.shape
    cost = np.where(iou > threshold, iou, 0.0)
    matched_t, matched_p = set(), set()
    if nt and np_:
        rows, cols = linear_sum_assignment(-cost)
        for r, c in zip(rows, cols):
            if cost[r, c] > threshold:
                matched_t.add(r + 1)
                matched_p.add(c + 1)
    area_t = table[1:, :].sum(1)
    area_p = table[:, 1:].sum(0)
    present_t = [i + 1 for i in range(nt) if area_t[i] > 0]
    present_p = [j + 1 for j in range(np_) if area_p[j] > 0]
    is_merged, is_split = merged_and_split(table)
    merged = {j for j in present_p if is_merged[j - 1]}
    split = {i for i in present_t if is_split[i - 1]}
    lut = lambda ids, n: np.isin(np.arange(n + 1), list(ids))  # noqa: E731
    return {
        "matched": lut(matched_p, np_)[pred],
        "extra": lut(set(present_p) - matched_p - merged, np_)[pred],
        "merged": lut(merged, np_)[pred],
        "missed": lut(set(present_t) - matched_t - split, nt)[truth],
        "split": lut(split, nt)[truth],
    }
