"""Copy a model with another input gamma, to try it on images whose objects are dim:

    python scripts/with_input_gamma.py nuclei 0.35 runs/nuclei_g035

The weights are unchanged; only the card's ``input.gamma`` (the power the normalized input is
raised to before the network, see ``cellseg.core.preprocess.compress``) is set, so the model
sees dim objects brighter than it was trained to. Measured in docs/measurements.md: it finds
more of the dimmest nuclei and costs accuracy elsewhere.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from cellseg.core.preprocess import check_gamma
from cellseg.model.store import load_model, save_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="bundled name or model folder")
    ap.add_argument("gamma", type=float, help="input gamma, e.g. 0.35 (the card's is kept in "
                                              "training.input_gamma_trained)")
    ap.add_argument("out", type=Path, help="new model folder")
    args = ap.parse_args()
    try:
        check_gamma(args.gamma)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    model = load_model(args.model)
    spec = model.card.setdefault("input", {})
    model.card.setdefault("training", {})["input_gamma_trained"] = spec.get("gamma", 1.0)
    spec["gamma"] = args.gamma
    save_model(model, args.out)
    print(f"{args.model} with input gamma {args.gamma} -> {args.out}")


if __name__ == "__main__":
    main()
