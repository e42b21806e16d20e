import numpy as np
import pytest
from conftest import discs

from cellseg.core.measure import measure, summarize


def test_disc_area_and_centroid():
    labels = discs((64, 64), centres=((20, 30),), radius=10)
    t = measure(labels, labels * 5.0, pixel_size=0.5, image_name="a.png")
    row = t.iloc[0]
    assert row["area"] == (labels > 0).sum()
    assert abs(row["area"] - np.pi * 100) < 15
    assert (row["centroid_y"], row["centroid_x"]) == pytest.approx((20, 30))
    assert row["equivalent_diameter"] == pytest.approx(2 * np.sqrt(row["area"] / np.pi))
    assert row["area_um2"] == pytest.approx(row["area"] * 0.25)
    assert row["equivalent_diameter_um"] == pytest.approx(row["equivalent_diameter"] * 0.5)
    assert row["mean_intensity"] == 5.0 and row["eccentricity"] < 0.2
    assert row["bbox_max_y"] - row["bbox_min_y"] == 21
    assert {"perimeter", "solidity", "orientation", "major_axis_length", "min_intensity",
            "max_intensity"} <= set(t.columns)


def test_summary_and_empty_image():
    t = measure(discs(), image_name="x")
    s = summarize(t, "x")
    assert s["count"] == 2 and s["mean_area"] == t["area"].mean()
    empty = measure(np.zeros((8, 8), np.int32))
    assert len(empty) == 0 and summarize(empty, "e")["count"] == 0


def test_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differs"):
        measure(discs(), np.zeros((10, 10)))
