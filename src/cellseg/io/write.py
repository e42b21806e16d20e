"""Atomic writers: each output goes to a temporary file in the same folder, then is renamed.

A crash never leaves a half-written file under the final name, and a rerun can trust that any
file present is complete.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".part",
                               dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        # mkstemp makes 0600 (and some writers replace the file): give the usual permissions
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def labels_dtype(labels: np.ndarray) -> np.dtype:
    """On-disk dtype for a label image: uint16 when it fits, else uint32."""
    return np.dtype(np.uint16) if int(labels.max(initial=0)) < 2**16 else np.dtype(np.uint32)


def write_labels(path: str | Path, labels: np.ndarray, pixel_size: float | None = None) -> None:
    """Write a (H, W) label image, or a (T, H, W) stack as pages, as a zlib-compressed TIFF.

    With ``pixel_size`` (µm per pixel) the file is an OME-TIFF carrying it: OME
    ``PhysicalSizeX/Y`` in µm (Bio-Formats in Fiji, OME readers in napari, QuPath) and TIFF
    resolution tags in pixels per cm (ImageJ's own TIFF opener turns these into µm).
    """
    import tifffile
    labels = np.asarray(labels)
    if labels.min(initial=0) < 0:
        raise ValueError("label images hold non-negative integers")
    data = labels.astype(labels_dtype(labels))
    extra: dict = {}
    if pixel_size:
        extra = dict(ome=True, resolution=(1e4 / pixel_size, 1e4 / pixel_size),
                     resolutionunit="CENTIMETER",
                     metadata={"axes": "TYX" if data.ndim == 3 else "YX",
                               "PhysicalSizeX": pixel_size, "PhysicalSizeXUnit": "µm",
                               "PhysicalSizeY": pixel_size, "PhysicalSizeYUnit": "µm"})
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, data, compression="zlib", **extra)


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write a uint8 (H, W) or (H, W, 3) image as PNG."""
    import imageio.v3 as iio
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, np.asarray(image), extension=".png")


def write_csv(path: str | Path, table) -> None:
    """Write a pandas DataFrame as CSV without its index."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def write_tiled_tiff(array, path: Path, tile: int = 512) -> None:
    """Write a (H, W) zarr/ndarray as a zlib-compressed tiled BigTIFF, tile by tile."""
    import tifffile
    h, w = array.shape
    dtype = np.uint32

    def tiles():
        for y in range(0, h, tile):
            band = np.asarray(array[y:min(h, y + tile)])
            for x in range(0, w, tile):
                t = np.zeros((tile, tile), dtype)
                part = band[:, x:x + tile]
                t[:part.shape[0], :part.shape[1]] = part
                yield t
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, tiles(), shape=(h, w), dtype=dtype, tile=(tile, tile),
                         compression="zlib", bigtiff=True)


def write_ome_zarr(array, path: str | Path, pixel_size: float | None = None, *,
                   min_side: int = 512, chunk: int = 1024) -> int:
    """Write a (H, W) label array (zarr or ndarray) as an OME-Zarr multiscale image (NGFF 0.4,
    zarr format 2, as napari-ome-zarr, Fiji/MoBIE and QuPath read it): level 0 the labels,
    each further level half the size (every second pixel: labels stay labels) until the
    longer side is under ``min_side``. Band by band, so memory stays at a few chunks.

    pixel_size : µm per pixel at level 0 (axes in micrometer), or None (no unit, scale 1).
    Returns the number of levels. An existing ``path`` is replaced.
    """
    import shutil

    import zarr
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    root = zarr.open_group(str(tmp), mode="w", zarr_format=2)
    source, level = array, 0
    while True:
        h, w = source.shape
        dest = root.create_array(str(level), shape=(h, w), chunks=(min(chunk, h), min(chunk, w)),
                                 dtype=np.uint32, fill_value=0)
        for y in range(0, h, chunk):
            dest[y:y + chunk] = np.asarray(source[y:y + chunk]).astype(np.uint32)
        if max(h, w) < min_side * 2 or min(h, w) < 2:
            break
        source, level = _half(dest), level + 1
    unit = {"unit": "micrometer"} if pixel_size else {}
    scale = pixel_size or 1.0
    root.attrs["multiscales"] = [{
        "version": "0.4", "name": path.stem,
        "axes": [{"name": "y", "type": "space", **unit}, {"name": "x", "type": "space", **unit}],
        "datasets": [{"path": str(i), "coordinateTransformations": [
            {"type": "scale", "scale": [scale * 2 ** i, scale * 2 ** i]}]}
            for i in range(level + 1)]}]
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
    return level + 1


class _half:
    """A lazily sliced view of every second row and column of a (H, W) array."""

    def __init__(self, array):
        self.array = array
        self.shape = ((array.shape[0] + 1) // 2, (array.shape[1] + 1) // 2)

    def __getitem__(self, rows: slice):
        start, stop, _ = rows.indices(self.shape[0])
        return np.asarray(self.array[2 * start:2 * stop:2])[:, ::2]
