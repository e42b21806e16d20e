"""The ``cellseg evaluate`` job: match prediction files to ground truth by name, score them
beside the Otsu baseline, write scores.json, per_image.csv and pictures of the worst images."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cellseg.core.metrics import image_row, image_scores, summarize
from cellseg.errors import InputError
from cellseg.io.images import find_images, read_image
from cellseg.io.naming import match_key
from cellseg.segmenter import make_segmenter


def load_truth(truth: str | Path) -> dict[str, tuple]:
    """key -> (loader of (image or None, labels)) for an annotated dataset or label images."""
    from cellseg.io.datasets import as_labels, detect_layout, open_dataset
    path = Path(truth)
    try:
        detect_layout(path)
        items = open_dataset(path)
    except InputError:
        files = find_images([path])
        return {match_key(f.stem): (lambda f=f: (None, as_labels(read_image(f)))) for f in files}
    out = {}
    for it in items:
        out[it.id] = it.load
        out.setdefault(it.image_path.stem, it.load)
        if it.image_path.stem.startswith("t"):
            out.setdefault(it.image_path.stem[1:], it.load)
    return out


def evaluate_folder(pred: str | Path, truth: str | Path, *, baseline: bool = True,
                    log=print) -> tuple[dict, pd.DataFrame, dict | None]:
    """(scores, per-image table, Otsu baseline scores or None) of predictions vs truth.

    Where ``<stem>_probs.tif`` probability maps lie beside the predictions, pixel ROC AUC and
    average precision are added to the scores (``scores["curves"]`` holds the curves).
    """
    from cellseg.core.metrics import pixel_curves
    from cellseg.io.datasets import as_labels
    preds = {match_key(p.stem): p for p in find_images([pred]) if not p.stem.endswith("_probs")}
    probs, prob_truths = [], []
    truths = load_truth(truth)
    pairs = [(k, p) for k, p in preds.items() if k in truths]
    if not pairs:
        raise InputError(pred, f"no prediction matches an image of {truth} by name")
    missing = sorted(set(truths) - set(preds))
    scores, rows, base_scores = [], [], []
    otsu = make_segmenter(method="otsu")
    for key, p in pairs:
        image, truth_labels = truths[key]()
        pred_labels = as_labels(read_image(p))
        if pred_labels.ndim != 2 or pred_labels.shape != truth_labels.shape:
            log(f"error: {p}: size {pred_labels.shape} differs from ground truth "
                f"{truth_labels.shape}")
            continue
        s = image_scores(truth_labels, pred_labels)
        scores.append(s)
        prob_file = p.with_name(f"{key}_probs.tif")
        if prob_file.exists():
            probs.append(read_image(prob_file).astype(np.float32) / 255)
            prob_truths.append(truth_labels)
        rows.append({"image": key, **image_row(s)})
        if baseline and image is not None:
            base_scores.append(image_scores(truth_labels, otsu(image).labels))
    if not scores:
        raise InputError(pred, "no prediction could be scored")
    summary = summarize(scores)
    summary["unmatched_truth"] = len(missing)
    if probs:
        curves = pixel_curves(probs, prob_truths)
        summary["roc_auc"] = curves["roc_auc"]
        summary["average_precision"] = curves["average_precision"]
        summary["curves"] = curves
    base = summarize(base_scores) if base_scores else None
    return summary, pd.DataFrame(rows), base


TABLE_KEYS = ("dsb_score", "ap50", "ap75", "f1_50", "pq", "aji", "mean_matched_iou", "seg",
              "pixel_iou",
              "pixel_dice", "pixel_precision", "pixel_recall", "pixel_accuracy", "count_mae",
              "n_true", "n_pred", "images")


def format_table(columns: dict[str, dict]) -> str:
    """Plain-text table: one row per metric, one column per method."""
    names = list(columns)
    lines = [f"{'metric':<18}" + "".join(f"{n:>12}" for n in names)]
    for k in TABLE_KEYS:
        vals = [columns[n].get(k) for n in names]
        if all(v is None for v in vals):
            continue
        cells = "".join(f"{v:>12.3f}" if isinstance(v, float) else f"{v!s:>12}" for v in vals)
        lines.append(f"{k:<18}{cells}")
    return "\n".join(lines)


def json_ready(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in d.items()}


def write_artifacts(out: Path, pred: Path, truth: Path, scores: dict, per_image: pd.DataFrame,
                    n_worst: int = 4) -> None:
    """Plots of an evaluation in ``out``: ROC/PR (when probabilities exist) and pictures of the
    ``n_worst`` images by DSB2018 score with their errors coloured."""
    from cellseg.io.datasets import as_labels
    from cellseg.viz import plots
    from cellseg.viz.overlay import display_rgb, error_overlay, outline_overlay
    if "curves" in scores:
        plots.save(plots.roc_pr(scores["curves"]), out / "roc_pr.png")
    preds = {match_key(p.stem): p for p in find_images([pred]) if not p.stem.endswith("_probs")}
    truths = load_truth(truth)
    for rank, key in enumerate(per_image.sort_values("dsb_score")["image"][:n_worst]):
        image, truth_labels = truths[key]()
        pred_labels = as_labels(read_image(preds[key]))
        row = per_image[per_image["image"] == key].iloc[0]
        base = display_rgb(image) if image is not None else np.zeros(truth_labels.shape + (3,),
                                                                     np.uint8)
        fig = plots.error_panels(base, outline_overlay(base, truth_labels, (255, 0, 255)),
                                 outline_overlay(base, pred_labels),
                                 error_overlay(image, truth_labels, pred_labels),
                                 f"{key}: DSB {row.dsb_score:.2f}, {row.n_true} true, "
                                 f"{row.n_pred} predicted")
        plots.save(fig, out / f"worst_{rank + 1}_{key[:40]}.png")


def run_evaluate(pred: str | Path, truth: str | Path, out: str | Path | None = None, *,
                 baseline: bool = True, log=print) -> tuple[dict, dict | None]:
    """Score the predictions in folder ``pred`` against ``truth`` (an annotated dataset or a
    folder of label images); with ``out``, write scores.json, per_image.csv and the plots.

    Returns
    -------
    (scores, Otsu baseline scores or None) as JSON-ready dicts (NaN -> None; the ROC/PR
    curves stay in the scores only when probabilities were found).
    """
    import json

    from cellseg.io.write import atomic_path, write_csv
    scores, per_image, base = evaluate_folder(pred, truth, baseline=baseline, log=log)
    doc = json_ready({k: v for k, v in scores.items() if k != "curves"})
    if base:
        doc["otsu_baseline"] = json_ready(base)
    if out:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "scores.json") as tmp:
            tmp.write_text(json.dumps(doc, indent=2))
        write_csv(out / "per_image.csv", per_image)
        write_artifacts(out, Path(pred), Path(truth), scores, per_image)
    doc.pop("otsu_baseline", None)
    return doc, (json_ready(base) if base else None)
