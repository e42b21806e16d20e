"""The ``cellseg measure`` job: measure label images made elsewhere (Fiji, by hand)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from cellseg.core.measure import measure
from cellseg.errors import InputError
from cellseg.io.datasets import as_labels
from cellseg.io.images import find_images, read_image
from cellseg.io.naming import match_key
from cellseg.io.write import write_csv


def measure_one(labels_path: Path, image_path: Path | None, pixel_size: float | None):
    """The measurement table of one label image (with intensities from its image)."""
    lab = as_labels(read_image(labels_path))
    image = read_image(image_path) if image_path else None
    if image is not None and image.shape[:2] != lab.shape:
        raise InputError(labels_path, f"label size {lab.shape} differs from image "
                         f"{image_path.name} size {image.shape[:2]}")
    return measure(lab, image, pixel_size=pixel_size, image_name=labels_path.name)


def run_measure(labels: list[str | Path], output: str | Path, *, images: str | Path | None = None,
                pixel_size: float | None = None, log=print) -> tuple[int, int, list[str]]:
    """Measure every label image named by ``labels`` (files or folders), each with its
    intensity image from folder ``images`` (matched by name) if given; write one CSV.

    Returns
    -------
    (objects, images measured, one-line failures). Raises InputError when ``labels`` or
    ``images`` name nothing readable.
    """
    files = find_images([str(p) for p in labels])
    by_key = {match_key(p.stem): p for p in find_images([images])} if images else {}
    tables, failed = [], []
    for f in files:
        try:
            image_path = by_key.get(match_key(f.stem))
            if images and image_path is None:
                raise InputError(f, f"no image with the same name in {images}")
            tables.append(measure_one(f, image_path, pixel_size))
        except InputError as exc:
            failed.append(str(exc))
            log(f"error: {exc}")
    if tables:
        write_csv(output, pd.concat(tables, ignore_index=True))
    return sum(len(t) for t in tables), len(tables), failed
