"""File names: output stems of inputs, and matching predictions to ground truth by name."""
from __future__ import annotations

from pathlib import Path

PRED_SUFFIXES = ("_labels", "_label", "_masks", "_mask", "_pred")


def output_stems(paths: list[Path]) -> dict[Path, str]:
    """Output name for each input: its stem, prefixed by its folder where stems collide.

    Examples
    --------
    >>> from pathlib import Path
    >>> list(output_stems([Path("a/x.tif"), Path("b/x.tif"), Path("b/y.png")]).values())
    ['a_x', 'b_x', 'y']
    """
    counts: dict[str, int] = {}
    for p in paths:
        counts[p.stem] = counts.get(p.stem, 0) + 1
    return {p: p.stem if counts[p.stem] == 1 else f"{p.parent.name}_{p.stem}" for p in paths}


def match_key(stem: str) -> str:
    """The name an image, its prediction and its annotation share.

    Examples
    --------
    >>> match_key("cell01_labels"), match_key("man_seg012"), match_key("cell01")
    ('cell01', '012', 'cell01')
    """
    for s in PRED_SUFFIXES:
        if stem.endswith(s):
            return stem[: -len(s)]
    return stem[len("man_seg"):] if stem.startswith("man_seg") else stem
