"""Shared fixtures. Real-data tests use ../shared/data and skip with a reason where it is absent."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SAMPLES = ROOT / "samples"


def shared(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test when it is not there."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data not available: {p} (../shared is absent on this machine)")
    return p


def discs(shape=(64, 64), centres=((20, 20), (44, 40)), radius=8) -> np.ndarray:
    """Label image with one disc per centre, labels 1..N."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int32)
    for i, (cy, cx) in enumerate(centres, 1):
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = i
    return labels


@pytest.fixture
def two_discs() -> np.ndarray:
    return discs()
