"""Average several trained models into one, then tune its instance thresholds on its
validation images.

    python scripts/average_models.py runs/cells_soup ../shared/data/usiigaci \
        --model cells --model runs/cells_edge --model runs/cells_crop384_more
    python scripts/average_models.py runs/cells_ensemble ../shared/data/usiigaci --outputs \
        --model runs/cells_pretrained_more --model runs/cells_v013

Two ways to average:

- the weights (default; a "model soup"): the models must share an architecture (models
  fine-tuned from one start). Every floating-point tensor is the mean of the models'
  (BatchNorm running statistics too); integer tensors (BatchNorm's step counts) are the
  first model's. The result costs what one model costs.
- the outputs (``--outputs``; an ensemble, :mod:`cellseg.model.ensemble`): any networks with
  the same outputs, input mapping and validation images; each image then costs every
  member's time. The card's ``training.members`` keeps each member's training record
  (recipe, time, hardware) and ``training.seconds`` their sum.

The first model's card is kept (its split, input mapping and recipe), with
``training.averaged_from`` naming them all. Prints the validation scores that
:func:`cellseg.training.tune.retune` measures.
"""
from __future__ import annotations

import argparse

from cellseg.model import load_model, save_model
from cellseg.model.ensemble import Ensemble, is_ensemble
from cellseg.training.tune import retune


def average_weights(models: list, ap: argparse.ArgumentParser) -> None:
    """Load the mean of the models' weights into the first model's network."""
    states = [m.net.state_dict() for m in models]
    if any(s.keys() != states[0].keys() or any(s[k].shape != states[0][k].shape for k in s)
           for s in states):
        ap.error("the models' networks differ (architecture or outputs); "
                 "--outputs averages their outputs instead")
    mean = {k: sum(s[k].float() for s in states) / len(states) if v.is_floating_point() else v
            for k, v in states[0].items()}
    models[0].net.load_state_dict(mean)


def ensemble(models: list, names: list[str], ap: argparse.ArgumentParser) -> None:
    """Make the first model an :class:`Ensemble` of all the models' networks."""
    first = models[0].card
    for name, m in zip(names, models):
        if is_ensemble(m.card):
            ap.error(f"{name} is an ensemble already; give its members")
        for key in ("outputs", "input"):
            if m.card.get(key) != first.get(key):
                ap.error(f"{name}: its {key} {m.card.get(key)} differ from {names[0]}'s "
                         f"{first.get(key)}")
        if set(m.card["training"]["val_ids"]) != set(first["training"]["val_ids"]):
            ap.error(f"{name}: its validation images differ from {names[0]}'s, so the "
                     "ensemble would be tuned on images a member trained on")
    members = [{"model": name, "cellseg_version": m.card.get("cellseg_version"),
                "weights_sha256": m.card.get("weights_sha256"), **m.card["training"]}
               for name, m in zip(names, models)]
    for member in members:
        member.pop("val_ids", None)  # the ensemble's own, once
    first["architecture"] = {"members": [m.card["architecture"] for m in models]}
    first["training"] = {**first["training"], "members": members, "seconds": round(sum(
        m.get("seconds", 0) + (m.get("init") or {}).get("seconds", 0) for m in members), 1)}
    first["training"].pop("init", None)
    models[0].net = Ensemble([m.net for m in models]).eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="folder to write the averaged model to")
    ap.add_argument("data", nargs="+", help="the annotated folders the models trained on")
    ap.add_argument("--model", action="append", required=True,
                    help="a bundled name or model folder (repeat, at least twice)")
    ap.add_argument("--outputs", action="store_true",
                    help="average the networks' outputs (an ensemble) instead of their weights")
    args = ap.parse_args()
    if len(args.model) < 2:
        ap.error("give at least two --model")
    models = [load_model(m).to("cpu") for m in args.model]
    if args.outputs:
        ensemble(models, args.model, ap)
    else:
        average_weights(models, ap)
    models[0].card["training"]["averaged_from"] = args.model
    save_model(models[0], args.out)
    scores = retune(args.out, args.data)
    print(" ".join(f"{k} {scores[k]:.3f}" for k in ("dsb_score", "ap50", "f1_50", "pq",
                                                     "pixel_iou")))


if __name__ == "__main__":
    main()
