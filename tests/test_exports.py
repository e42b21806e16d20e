"""Fiji ROI sets and QuPath GeoJSON, read back: one outline per object, areas that match."""
import json

import numpy as np
import pytest
import tifffile
from conftest import SAMPLES

from cellseg.core.outlines import polygon_area


def check_outlines(labels: np.ndarray, outlines: dict) -> None:
    """Same objects as the label image; outline area within 5 % of the pixel area (>= 20 px)."""
    ids, areas = np.unique(labels[labels > 0], return_counts=True)
    assert sorted(outlines) == ids.tolist()
    for label, area in zip(ids, areas):
        if area >= 20:
            assert polygon_area(outlines[label]) == pytest.approx(area, rel=0.05), label


def test_rois_and_geojson_of_the_samples(tmp_path):
    import roifile

    from cellseg.jobs.segment_batch import run_segment
    result = run_segment([SAMPLES / "images"], tmp_path, method="otsu", rois=True, geojson=True,
                         quiet=True)
    assert result.ok
    for labels_file in sorted(tmp_path.glob("*_labels.tif")):
        stem = labels_file.name[: -len("_labels.tif")]
        labels = tifffile.imread(labels_file).astype(np.int64)
        assert labels.max() > 5
        rois = roifile.roiread(tmp_path / f"{stem}_rois.zip")
        assert all(r.roitype == roifile.ROI_TYPE.POLYGON for r in rois)
        check_outlines(labels, {int(r.name): r.coordinates() for r in rois})
        doc = json.loads((tmp_path / f"{stem}.geojson").read_text())
        assert doc["type"] == "FeatureCollection"
        feats = doc["features"]
        assert {f["properties"]["objectType"] for f in feats} == {"detection"}
        check_outlines(labels, {f["properties"]["label"]:
                                np.array(f["geometry"]["coordinates"][0][:-1]) for f in feats})
        area = {f["properties"]["label"]: f["properties"]["measurements"]["area"] for f in feats}
        ids, counts = np.unique(labels[labels > 0], return_counts=True)
        assert all(area[i] == c for i, c in zip(ids.tolist(), counts.tolist()))


def test_rois_land_on_their_frame_of_a_stack(tmp_path):
    import roifile

    from cellseg.io.exports import write_rois
    a = np.zeros((30, 30), int)
    a[3:9, 3:9] = 1
    b = np.zeros_like(a)
    b[10:20, 12:18] = 4
    write_rois(tmp_path / "s_rois.zip", [a, b])
    rois = roifile.roiread(tmp_path / "s_rois.zip")
    assert [(r.name, r.position) for r in rois] == [("t0-1", 1), ("t1-4", 2)]
    write_rois(tmp_path / "empty_rois.zip", [np.zeros((5, 5), int)])  # no object: valid, empty
    import zipfile
    assert zipfile.ZipFile(tmp_path / "empty_rois.zip").namelist() == []
