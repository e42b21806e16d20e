"""Average the weights of models fine-tuned from one start ("model soup"), then tune the
average's instance thresholds on its validation images.

    python scripts/average_models.py runs/cells_soup ../shared/data/usiigaci \
        --model cells --model runs/cells_edge --model runs/cells_crop384_more

The models must share an architecture (same network, same outputs); the first one's card is
kept (its split, input mapping and recipe), with ``training.averaged_from`` naming them all.
Every floating-point tensor is the mean of the models' (BatchNorm running statistics too);
integer tensors (BatchNorm's step counts) are the first model's. Prints the validation
scores that :func:`cellseg.training.tune.retune` measures.
"""
from __future__ import annotations

import argparse

from cellseg.model import load_model, save_model
from cellseg.training.tune import retune


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="folder to write the averaged model to")
    ap.add_argument("data", nargs="+", help="the annotated folders the models trained on")
    ap.add_argument("--model", action="append", required=True,
                    help="a bundled name or model folder (repeat, at least twice)")
    args = ap.parse_args()
    if len(args.model) < 2:
        ap.error("give at least two --model")
    models = [load_model(m) for m in args.model]
    states = [m.net.state_dict() for m in models]
    if any(s.keys() != states[0].keys() or any(s[k].shape != states[0][k].shape for k in s)
           for s in states):
        ap.error("the models' networks differ (architecture or outputs)")
    mean = {k: sum(s[k].float() for s in states) / len(states) if v.is_floating_point() else v
            for k, v in states[0].items()}
    first = models[0]
    first.net.load_state_dict(mean)
    first.card["training"]["averaged_from"] = args.model
    save_model(first, args.out)
    scores = retune(args.out, args.data)
    print(" ".join(f"{k} {scores[k]:.3f}" for k in ("dsb_score", "ap50", "f1_50", "pq",
                                                     "pixel_iou")))


if __name__ == "__main__":
    main()
