"""Copy a trained model into the package as a bundled model, with what it was trained on.

    python scripts/bundle_model.py he runs/he --data-licence "MoNuSeg 2018 train: CC BY-NC-SA 4.0" ...

Writes ``src/cellseg/models/<name>.safetensors`` and ``<name>.json``; the card gets the data
licences given (one ``--data-licence`` per training source) and keeps its weights' SHA-256;
``--float16`` halves the file for a network too large for the 20 MB limit in float32.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from cellseg.model import BUNDLED_DIR, load_model, save_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", help="bundled name, e.g. he")
    ap.add_argument("model", help="trained model folder")
    ap.add_argument("--data-licence", action="append", default=[],
                    help="'source: licence' of one training source (repeatable)")
    ap.add_argument("--hardware", default=None,
                    help="what trained it, when the card does not say (cards written by "
                         "cellseg >= 0.4 record it themselves)")
    ap.add_argument("--float16", action="store_true",
                    help="store the weights in half precision (half the file size), for a "
                         "network whose float32 weights pass the 20 MB limit")
    args = ap.parse_args()
    model = load_model(args.model)
    if args.data_licence:
        model.card["training"]["data_licences"] = args.data_licence
    if args.hardware:
        model.card["training"]["hardware"] = args.hardware
    model.card["training"]["data"] = [Path(p).name for p in model.card["training"]["data"]]
    tmp = BUNDLED_DIR / f".{args.name}.tmp"
    save_model(model, tmp, float16=args.float16)
    (tmp / "model.safetensors").replace(BUNDLED_DIR / f"{args.name}.safetensors")
    (tmp / "model.json").replace(BUNDLED_DIR / f"{args.name}.json")
    tmp.rmdir()
    size = (BUNDLED_DIR / f"{args.name}.safetensors").stat().st_size / 1e6
    print(f"bundled {args.name}: {size:.1f} MB, validation {model.card.get('validation', {})}")


if __name__ == "__main__":
    main()
