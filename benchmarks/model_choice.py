"""Which bundled model the default (no --model) picks, per source of ../shared/data.

    python benchmarks/model_choice.py

Prints, for every annotated image set, how many images :func:`cellseg.segmenter.choose_model`
sends to each model (stained tissue -> he, else nuclei).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from cellseg.io.datasets import dsb_image_type, open_dataset
from cellseg.segmenter import choose_model

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = ["he/monuseg_train", "he/gbm40", "he/tcga_brain", "dsb2018/stage1_train",
           "ctc/Fluo-N2DH-GOWT1/01", "ctc/Fluo-N2DH-SIM+/01", "usiigaci"]


def main() -> None:
    print(f"{'source':<28}{'images':>7}  chosen model (DSB2018: per image type)")
    for source in SOURCES:
        counts: Counter = Counter()
        for item in open_dataset(SHARED / source):
            image = item.load()[0]
            kind = f"{dsb_image_type(image)} -> " if source.startswith("dsb") else ""
            counts[kind + choose_model(image)] += 1
        print(f"{source:<28}{sum(counts.values()):>7}  "
              + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())), flush=True)


if __name__ == "__main__":
    main()
