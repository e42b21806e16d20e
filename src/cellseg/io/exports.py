"""Outlines for Fiji and QuPath: ImageJ ROI sets and GeoJSON feature collections.

- ``<stem>_rois.zip``: one ImageJ polygon ROI per object, named by its label (and frame, for
  stacks), that Fiji's ROI Manager opens (File > Open, or drag and drop).
- ``<stem>.geojson``: one QuPath detection per object (File > Import objects), with its
  measurements as properties.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from cellseg.core.outlines import object_polygons
from cellseg.io.write import atomic_path


def imagej_rois(labels: np.ndarray, frame: int | None = None) -> list:
    """``roifile.ImagejRoi`` polygons of the objects of an (H, W) label image, named by label
    ("12", or "t3-12" for frame 3 of a stack, whose ROI sits on that frame)."""
    from roifile import ROI_TYPE, ImagejRoi
    rois = []
    for label, poly in object_polygons(labels).items():
        name = str(label) if frame is None else f"t{frame}-{label}"
        roi = ImagejRoi.frompoints(poly, name=name, position=frame)
        roi.roitype = ROI_TYPE.POLYGON  # frompoints makes freehand ROIs
        rois.append(roi)
    return rois


def write_rois(path: str | Path, frames: list[np.ndarray]) -> None:
    """One ImageJ ROI zip (``<name>.roi`` entries, as Fiji's ROI Manager saves them) for the
    label image(s) of one file; a stack gives one set per frame. No object: an empty zip."""
    import zipfile
    stack = len(frames) > 1
    rois = [r for f, lab in enumerate(frames) for r in imagej_rois(lab, f if stack else None)]
    with atomic_path(Path(path)) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        for roi in rois:
            zf.writestr(f"{roi.name}.roi", roi.tobytes())


def _number(v):
    return None if isinstance(v, float) and not np.isfinite(v) else (
        v.item() if hasattr(v, "item") else v)


def geojson_features(labels: np.ndarray, table: pd.DataFrame | None = None,
                     frame: int | None = None) -> list[dict]:
    """QuPath-compatible GeoJSON Features (polygon, ``objectType`` detection, the object's
    row of ``table`` as ``measurements``) of an (H, W) label image."""
    rows = {}
    if table is not None and len(table):
        skip = {"image", "label", "frame"}
        rows = {int(r["label"]): {k: _number(v) for k, v in r.items()
                                  if k not in skip and _number(v) is not None}
                for r in table.to_dict("records")}
    features = []
    for label, poly in object_polygons(labels).items():
        ring = [[round(float(x), 3), round(float(y), 3)] for x, y in poly]
        props = {"objectType": "detection", "name": str(label), "label": label,
                 "measurements": rows.get(label, {})}
        if frame is not None:
            props["frame"] = frame
        features.append({"type": "Feature",
                         "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]},
                         "properties": props})
    return features


def write_geojson(path: str | Path, frames: list[np.ndarray], tables: list[pd.DataFrame]) -> None:
    """One GeoJSON FeatureCollection for the label image(s) of one file."""
    stack = len(frames) > 1
    features = [f for i, (lab, t) in enumerate(zip(frames, tables))
                for f in geojson_features(lab, t, i if stack else None)]
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
