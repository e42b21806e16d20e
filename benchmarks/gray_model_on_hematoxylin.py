"""The gray nuclei model, which never saw stained tissue, fed the hematoxylin channel of
MoNuSeg's H&E images (nuclei bright on a dark background, as fluorescence shows them) beside
the luminance that ``cellseg segment --model nuclei`` reads: how much of what a network learns
on fluorescence nuclei carries over to stained tissue through the stain-deconvolved channel.

    python benchmarks/gray_model_on_hematoxylin.py
"""
from __future__ import annotations

from generalization import HEADER, SHARED, row, score, segmenter

from cellseg.core.preprocess import hematoxylin
from cellseg.io.datasets import open_dataset


def main() -> None:
    items = [it.load() for it in open_dataset(SHARED / "he" / "monuseg_train")]
    seg = segmenter(model="nuclei")
    print(HEADER)
    print(row("MoNuSeg train", "gray nuclei model, hematoxylin channel",
              *score(lambda im: seg(hematoxylin(im)).labels, items)), flush=True)
    print(row("MoNuSeg train", "gray nuclei model (as segment runs it)",
              *score(lambda im: seg(im).labels, items)), flush=True)


if __name__ == "__main__":
    main()
