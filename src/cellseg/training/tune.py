"""Validation scoring and the tuning of a model's instance thresholds on validation images."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from cellseg.core.instances import InstanceParams, probs_to_labels
from cellseg.core.rescale import typical_diameter


def predict_all(model, images: list[np.ndarray]) -> list[np.ndarray]:
    """(C, H, W) probabilities of each image (PyTorch: the weights change between calls)."""
    return [model.predict_probs(im, backend="torch") for im in images]


def score_probs(probs: list[np.ndarray], truths: list[np.ndarray], params: InstanceParams) -> dict:
    """Dataset scores (:func:`cellseg.core.metrics.evaluate`) of probabilities turned into
    labels with ``params``."""
    from cellseg.core.metrics import evaluate
    return evaluate(truths, [probs_to_labels(p, params) for p in probs])


def tune_thresholds(probs, truths, base: InstanceParams) -> tuple[InstanceParams, dict]:
    """Grid search of the instance step's thresholds (foreground; centre-distance seeds or
    object-rim seeds, or the height of centre-distance maxima, or the pixels a flow sink
    must collect, by ``base.method``) and of
    the smoothing of the seeding map (or of the flows), then of the
    relative minimum object size, for the best mean DSB2018 score on the validation images.
    Returns (best parameters, their scores)."""
    def best_of(candidates, best=None, best_scores=None):
        for params in candidates:
            scores = score_probs(probs, truths, params)
            if best_scores is None or scores["dsb_score"] > best_scores["dsb_score"]:
                best, best_scores = params, scores
        return best, best_scores

    seed_key, seeds = {"boundary": ("boundary_threshold", (0.1, 0.2, 0.3, 0.4, 0.5)),
                       "flows": ("min_size", (10, 30, 60)),  # pixels a sink must collect
                       "maxima": ("h_max", (0.1, 0.15, 0.2, 0.3, 0.4)),
                       }.get(base.method, ("seed_threshold", (0.3, 0.4, 0.5, 0.6, 0.7)))
    best, scores = best_of(replace(base, prob_threshold=pt, smooth=smooth, **{seed_key: st},
                                   min_relative=0.0)
                           for smooth in (0.0, 1.0, 2.0, 3.0) for pt in (0.4, 0.5, 0.6)
                           for st in seeds)
    return best_of((replace(best, min_relative=f) for f in (0.1, 0.2, 0.3, 0.4)), best, scores)


def methods_of(model) -> list[str]:
    """The instance methods a model's outputs allow (``boundary`` needs the object rims,
    ``flows`` the flows; ``distance`` and ``maxima`` work with all)."""
    outputs = model.card.get("outputs", [])
    extra = (("boundary", "boundary"), ("flows", "flow_y"))  # (method, output it needs)
    return ["distance", "maxima"] + [m for m, out in extra if out in outputs]


def finish(model, probs, truths) -> dict:
    """Tune ``model``'s instance step on validation ``probs`` / ``truths`` (each method its
    outputs allow; the best is kept) and record the validation scores in its card (with
    several methods, each one's scores and parameters under ``validation_by_method`` and
    ``instances_by_method``); returns the kept method's scores. Each method starts from the
    default parameters, so tuning again gives the same result whatever the card held."""
    tuned = {m: tune_thresholds(probs, truths, InstanceParams(method=m))
             for m in methods_of(model)}
    method = max(tuned, key=lambda m: tuned[m][1]["dsb_score"])
    model.params, scores = tuned[method]
    plain = {m: {k: v for k, v in s.items() if k != "confusion_matrix"}
             for m, (_, s) in tuned.items()}
    model.card["validation"] = plain[method]
    if len(plain) > 1:
        model.card["validation_by_method"] = plain
        model.card["instances_by_method"] = {m: p.to_dict() for m, (p, _) in tuned.items()}
    return scores


def retune(model_dir: str | Path, data: list[str | Path]) -> dict:
    """Tune a trained model's instance parameters again on its validation images (listed in
    its model card), measure its training objects' typical diameter (the images of the card's
    ``types`` outside its ``leave_out`` groups and validation, as training measured it), save
    both (the card's ``retuned_by`` names the cellseg version); returns the validation
    scores."""
    from cellseg import __version__
    from cellseg.model.store import load_model, save_model
    from cellseg.training.data import left_out, load_annotated
    model = load_model(model_dir)
    cfg = model.card["training"]["config"]
    val_ids = set(model.card["training"]["val_ids"])
    items = load_annotated(data, types=cfg.get("types", ()), quiet=True)
    val = [i for i, id_ in enumerate(items.ids) if id_ in val_ids]
    model.card["object_diameter"] = typical_diameter(
        lab for id_, group, lab in zip(items.ids, items.groups, items.labels)
        if id_ not in val_ids and not left_out(group, cfg.get("leave_out", ())))
    scores = finish(model, predict_all(model, [items.images[i] for i in val]),
                    [items.labels[i] for i in val])
    model.card["retuned_by"] = f"cellseg {__version__}"  # the weights are training's
    save_model(model, model_dir)
    return scores
