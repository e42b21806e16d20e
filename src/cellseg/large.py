"""Images larger than memory: segmented block by block, objects stitched across block edges.

The image is read lazily (a TIFF of any layout through tifffile's zarr view, or a zarr
array). The intensity mapping is fitted once on a strided subsample so every block is prepared
alike. Each block is predicted with a ``margin`` of context on every side; an object is kept
by the block that holds its centroid, and its whole mask comes from that block's prediction,
so objects that cross a block edge are neither cut nor counted twice (the margin must exceed
the largest object radius). Labels go to an on-disk zarr array and then to a tiled BigTIFF;
peak memory is a few blocks, whatever the image size.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from cellseg.errors import InputError
from cellseg.io.write import atomic_path
from cellseg.predict import DEFAULT_OVERLAP, DEFAULT_TILE


def open_lazy(path: str | Path):
    """A lazily sliceable (H, W) or (H, W, C) array of a TIFF (level 0 of a pyramid) or zarr."""
    import zarr
    p = Path(path)
    try:
        if p.suffix.lower() in (".tif", ".tiff"):
            import tifffile
            store = tifffile.imread(p, aszarr=True)
            z = zarr.open(store, mode="r")
        else:
            z = zarr.open(str(p), mode="r")
        if isinstance(z, zarr.Group):
            z = z[sorted(z.array_keys())[0]]
    except Exception as exc:
        raise InputError(p, f"cannot open lazily ({type(exc).__name__}: {exc})") from exc
    if z.ndim == 3 and z.shape[0] <= 4 < z.shape[-1]:
        raise InputError(p, "channel-first huge images are not supported; save as (H, W, C)")
    if z.ndim not in (2, 3):
        raise InputError(p, f"expected a 2D image, got shape {z.shape}")
    return z


def subsample(array, max_pixels: int = 4_000_000) -> np.ndarray:
    """A strided view of about ``max_pixels`` pixels, read block-row by block-row."""
    h, w = array.shape[:2]
    step = max(1, int(np.ceil(np.sqrt(h * w / max_pixels))))
    rows = []
    for y in range(0, h, 4096):
        chunk = np.asarray(array[y:min(h, y + 4096)])
        rows.append(chunk[(-y) % step::step, ::step])
    return np.concatenate(rows, axis=0)


def blocks(shape: tuple[int, int], block: int) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of the core blocks tiling an image."""
    h, w = shape
    return [(y, min(h, y + block), x, min(w, x + block))
            for y in range(0, h, block) for x in range(0, w, block)]


def owned_objects(labels: np.ndarray, core: tuple[int, int, int, int]) -> np.ndarray:
    """Ids of objects in ``labels`` whose centroid lies in ``core`` (local y0, y1, x0, x1)."""
    ids = np.unique(labels)
    ids = ids[ids > 0]
    if not len(ids):
        return ids
    yy, xx = np.nonzero(labels)
    lab = labels[yy, xx]
    n = int(labels.max()) + 1
    cnt = np.bincount(lab, minlength=n)
    cy = np.bincount(lab, yy, n)[ids] / cnt[ids]
    cx = np.bincount(lab, xx, n)[ids] / cnt[ids]
    y0, y1, x0, x1 = core
    return ids[(cy >= y0) & (cy < y1) & (cx >= x0) & (cx < x1)]


def predict_block(array, core: tuple[int, int, int, int], predict_labels: Callable, *,
                  margin: int, measure_fn: Callable | None = None) -> dict:
    """Segment one core block (y0, y1, x0, x1) of ``array`` with ``margin`` pixels of context.

    Returns {region: (y0, y1, x0, x1) read, labels: (h, w) int32 of the objects this block
    owns numbered 1..n, n, table: their measurements in image coordinates or None}.
    """
    h, w = array.shape[:2]
    y0, y1, x0, x1 = core
    ey0, ey1 = max(0, y0 - margin), min(h, y1 + margin)
    ex0, ex1 = max(0, x0 - margin), min(w, x1 + margin)
    image = np.asarray(array[ey0:ey1, ex0:ex1])
    labels = predict_labels(image)
    keep = owned_objects(labels, (y0 - ey0, y1 - ey0, x0 - ex0, x1 - ex0))
    lut = np.zeros(int(labels.max()) + 1, np.int32)
    lut[keep] = np.arange(1, len(keep) + 1)
    mine = lut[labels]
    table = None
    if measure_fn is not None and len(keep):
        table = measure_fn(mine, image)
        for col, off in (("centroid_y", ey0), ("bbox_min_y", ey0), ("bbox_max_y", ey0),
                         ("centroid_x", ex0), ("bbox_min_x", ex0), ("bbox_max_x", ex0)):
            if col in table:
                table[col] += off
    return {"region": (ey0, ey1, ex0, ex1), "labels": mine, "n": len(keep), "table": table}


def merge_block(out, result: dict, first_id: int) -> None:
    """Write a :func:`predict_block` result into the label array ``out``, its objects numbered
    from ``first_id``; a pixel already claimed by an earlier block keeps its owner."""
    if not result["n"]:
        return
    ey0, ey1, ex0, ex1 = result["region"]
    mine = result["labels"]
    current = np.asarray(out[ey0:ey1, ex0:ex1])
    free = (mine > 0) & (current == 0)
    current[free] = mine[free] + (first_id - 1)
    out[ey0:ey1, ex0:ex1] = current
    if result["table"] is not None and "label" in result["table"]:
        result["table"]["label"] += first_id - 1


def segment_blocks(array, predict_labels: Callable[[np.ndarray], np.ndarray], out_zarr: Path, *,
                   block: int = 2048, margin: int = 128, progress=None,
                   measure_fn: Callable | None = None,
                   run_blocks: Callable | None = None) -> tuple[int, pd.DataFrame | None]:
    """Segment a lazily readable image block by block into the zarr array ``out_zarr``.

    predict_labels : (h, w[, C]) image block -> (h, w) int labels of that block.
    measure_fn : optional (labels, image) -> per-object table of one block, for the owned
        objects only; centroids and boxes are shifted to image coordinates.
    run_blocks : optional list of core blocks -> iterator of :func:`predict_block` results in
        the same order (e.g. computed by a Dask cluster); by default they are computed here.
        Results are merged in block order, so the labels do not depend on who computed them.
    Returns (number of objects, measurements or None).
    """
    import zarr
    h, w = array.shape[:2]
    out = zarr.open(str(out_zarr), mode="w", shape=(h, w), chunks=(1024, 1024), dtype="int32",
                    fill_value=0)
    cores = blocks((h, w), block)
    if run_blocks is None:
        results = (predict_block(array, c, predict_labels, margin=margin, measure_fn=measure_fn)
                   for c in cores)
    else:
        results = run_blocks(cores)
    next_id = 1
    tables = []
    for result in results:
        merge_block(out, result, next_id)
        if result["table"] is not None:
            tables.append(result["table"])
        next_id += result["n"]
        if progress:
            progress(1)
    table = pd.concat(tables, ignore_index=True) if tables else None
    return next_id - 1, table


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


def block_functions(model, name: str, *, norm, tile: int, overlap: int,
                    diameter: float | None, pixel_size: float | None) -> tuple[Callable, Callable]:
    """(predict_labels, measure_fn) of one huge image for :func:`segment_blocks`; every block
    is predicted at the same scale (``diameter``, in pixels, or None: native)."""
    from cellseg.measurements import measure

    def predict_labels(image):
        return model.segment(image, tile=tile, overlap=overlap, norm=norm, diameter=diameter)

    def measure_fn(labels, image):
        return measure(labels, image, pixel_size=pixel_size, image_name=name)
    return predict_labels, measure_fn


def block_task(core, *, path: str, model: str, norm, margin: int, tile: int, overlap: int,
               diameter: float | None, pixel_size: float | None) -> dict:
    """One block of a huge image, computed in a worker process: :func:`predict_block` with the
    worker's copy of the model (loaded once per process) and the image opened lazily there."""
    from cellseg.model import cached_model
    predict_labels, measure_fn = block_functions(cached_model(model), Path(path).name, norm=norm,
                                                 tile=tile, overlap=overlap, diameter=diameter,
                                                 pixel_size=pixel_size)
    return predict_block(open_lazy(path), core, predict_labels, margin=margin,
                         measure_fn=measure_fn)


def segment_large(path: str | Path, out: str | Path, model, *, block: int = 2048,
                  margin: int = 128, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
                  diameter: float | str | None = "auto", quiet: bool = False,
                  pixel_size: float | None = None, client=None) -> dict:
    """Segment a huge image file with a model (a :class:`cellseg.model.Segmenter`, or a model
    name or path).

    diameter : typical object diameter (pixels), None, or "auto": measured once on a central
        window of at most ``block`` x ``block`` pixels, then used for every block.
    client : a ``dask.distributed.Client``; the blocks are then segmented by its workers, each
        of which loads the model once and reads its blocks from ``path`` itself (so the file
        must be reachable from the workers). The result equals a run in this process.
    Writes ``OUT/<stem>_labels.zarr`` and ``OUT/<stem>_labels.tif`` (tiled BigTIFF) and
    ``OUT/<stem>_measurements.csv``. Returns {objects, shape, labels}.
    """
    from functools import partial
    from tqdm import tqdm
    from cellseg.io.write import write_csv
    from cellseg.model import cached_model
    p, out = Path(path), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    array = open_lazy(p)
    segmenter = model if hasattr(model, "predict_probs") else cached_model(model)
    norm = segmenter.normalization(subsample(array))
    if diameter == "auto":
        h, w = array.shape[:2]
        y0, x0 = max(0, (h - block) // 2), max(0, (w - block) // 2)
        window = np.asarray(array[y0:y0 + block, x0:x0 + block])
        diameter = segmenter.measure_diameter(window, tile=tile, overlap=overlap, norm=norm)
    run_blocks = None
    if client is not None:
        from cellseg.distributed import map_in_order
        name = model if isinstance(model, (str, Path)) else getattr(model, "source", None)
        if name is None:
            raise ValueError("with a Dask client, give the model as a name or path")
        task = partial(block_task, path=str(p.resolve()), model=str(name), norm=norm,
                       margin=margin, tile=tile, overlap=overlap, diameter=diameter,
                       pixel_size=pixel_size)
        run_blocks = partial(map_in_order, client, task)
    predict_labels, measure_fn = block_functions(segmenter, p.name, norm=norm, tile=tile,
                                                 overlap=overlap, diameter=diameter,
                                                 pixel_size=pixel_size)
    n_blocks = len(blocks(array.shape[:2], block))
    with tqdm(total=n_blocks, desc=f"blocks of {p.name}", unit="block", disable=quiet) as bar:
        n, table = segment_blocks(array, predict_labels, out / f"{p.stem}_labels.zarr",
                                  block=block, margin=margin, progress=bar.update,
                                  measure_fn=measure_fn, run_blocks=run_blocks)
    import zarr
    labels = zarr.open(str(out / f"{p.stem}_labels.zarr"), mode="r")
    write_tiled_tiff(labels, out / f"{p.stem}_labels.tif")
    if table is not None:
        write_csv(out / f"{p.stem}_measurements.csv", table)
    return {"objects": n, "shape": tuple(array.shape), "labels": out / f"{p.stem}_labels.tif"}
