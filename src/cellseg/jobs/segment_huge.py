"""The huge-image job: an image larger than memory segmented block by block, objects stitched
across block edges.

The image is read lazily (a TIFF of any layout through tifffile's zarr view, or a zarr
array). The intensity mapping is fitted once on a strided subsample so every block is prepared
alike. Each block is predicted with a ``margin`` of context on every side; an object is kept
by the block that holds its centroid, and its whole mask comes from that block's prediction,
so objects that cross a block edge are neither cut nor counted twice (the margin must exceed
the largest object radius). Labels go to a scratch zarr array (uniquely named, removed at the
end unless kept) and then to a tiled BigTIFF; peak memory is a few blocks, whatever the image
size. The model is chosen and the object size measured once, on a central window, for every
block.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from cellseg.core.tiling import DEFAULT_OVERLAP, DEFAULT_TILE
from cellseg.errors import InputError
from cellseg.io.write import write_ome_zarr, write_tiled_tiff


class ChannelView:
    """One channel of a lazily sliceable (H, W, C) array, itself lazily sliceable (H, W)."""

    def __init__(self, array, channel: int):
        if not 0 <= channel < array.shape[-1]:
            raise IndexError(f"channel {channel} out of range (image has {array.shape[-1]})")
        self.array, self.channel = array, channel
        self.shape, self.ndim = tuple(array.shape[:2]), 2

    def __getitem__(self, key):
        return np.asarray(self.array[key])[..., self.channel]


def open_lazy(path: str | Path, channel: int | str | None = None):
    """A lazily sliceable (H, W) or (H, W, C) array of a TIFF (level 0 of a pyramid) or zarr;
    only channel ``channel`` of a multi-channel image when given."""
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
    if channel is not None and z.ndim == 3:
        from cellseg.io.images import channel_index
        try:
            return ChannelView(z, channel_index(p, channel))
        except IndexError as exc:
            raise InputError(p, str(exc)) from exc
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


def block_task(core, *, path: str, opts, norm, margin: int, channel: int | None,
               pixel_size: float | None) -> dict:
    """One block of a huge image, computed in a worker process: :func:`predict_block` with the
    worker's segmenter for ``opts`` (model loaded once per process, chosen and scaled on the
    whole image beforehand) and the image opened lazily there."""
    from cellseg.segmenter import make_segmenter
    return predict_block(open_lazy(path, channel), core,
                         block_labeller(make_segmenter(opts), norm), margin=margin,
                         measure_fn=block_measurer(Path(path).name, pixel_size))


def block_labeller(segmenter, norm) -> Callable[[np.ndarray], np.ndarray]:
    """image block -> labels, with the image's one intensity mapping ``norm``."""
    return lambda image: segmenter(image, norm=norm).labels


def block_measurer(name: str, pixel_size: float | None) -> Callable:
    """(labels, image) of a block -> its measurement table."""
    from cellseg.core.measure import measure
    return lambda labels, image: measure(labels, image, pixel_size=pixel_size, image_name=name)


def by_name(opts):
    """Segment options whose model is named (a path or bundled name), as Dask workers need:
    each loads its own copy."""
    from dataclasses import replace

    from cellseg.segmenter import is_loaded
    if not is_loaded(opts.model):
        return opts
    if not opts.model.source:
        raise ValueError("with a Dask client, give the model as a name or path")
    return replace(opts, model=opts.model.source)


def central_window(array, side: int) -> np.ndarray:
    """The central ``side`` x ``side`` pixels (at most) of a lazy array, read."""
    h, w = array.shape[:2]
    y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return np.asarray(array[y0:y0 + side, x0:x0 + side])


def segment_large(path: str | Path, out: str | Path, model=None, *, stem: str | None = None,
                  block: int = 2048, margin: int = 128, tile: int = DEFAULT_TILE,
                  overlap: int = DEFAULT_OVERLAP, tta: bool = False, backend: str = "auto",
                  diameter: float | str | None = "auto", channel: int | None = None,
                  pixel_size: float | None = None, quiet: bool = False, client=None,
                  keep_zarr: bool = False, ome_zarr: bool = False) -> dict:
    """Segment a huge image file block by block.

    Parameters
    ----------
    path : TIFF (any layout, BigTIFF, pyramid level 0) or zarr array.
    out : output folder; receives ``<stem>_labels.tif`` (tiled BigTIFF), with ``ome_zarr``
        ``<stem>_labels.ome.zarr`` (a multiscale pyramid, see
        :func:`cellseg.io.write.write_ome_zarr`) and, with ``keep_zarr``, the scratch array
        ``<stem>_labels.zarr``.
    model : None (chosen on the image), a model name or path, or a loaded model (not with a
        Dask ``client``: workers load models by name).
    stem : output name (default the file's stem).
    block, margin : core block side and context on every side (pixels).
    tile, overlap, tta, backend, diameter : as for :class:`cellseg.segmenter.SegmentOptions`; the
        model and an "auto" diameter are fixed once, on a central window of ``block`` pixels.
    channel : channel (0-based) of a multi-channel image.
    client : a ``dask.distributed.Client``; the blocks are then segmented by its workers,
        which read ``path`` themselves. The result equals a run in this process.

    Returns
    -------
    dict : objects (count), shape, labels (path of the label TIFF), table (measurements),
    model (the model used).
    """
    import shutil
    import tempfile
    from functools import partial

    import zarr
    from tqdm import tqdm

    from cellseg.distributed import map_in_order
    from cellseg.segmenter import AUTO, SegmentOptions, choose_model, make_segmenter
    p, out = Path(path), Path(out)
    stem = stem or p.stem
    out.mkdir(parents=True, exist_ok=True)
    array = open_lazy(p, channel)
    sample = subsample(array)
    if model in (None, AUTO):  # one model for the whole image, chosen on the subsample
        model = choose_model(sample)
    seg = make_segmenter(SegmentOptions(model=model, tile=tile, overlap=overlap, tta=tta,
                                        backend=backend, diameter=diameter))
    norm = seg.normalization(sample)
    seg = seg.bound(central_window(array, block), norm)
    run_blocks = None if client is None else partial(
        map_in_order, client, partial(block_task, path=str(p.resolve()), opts=by_name(seg.opts),
                                      norm=norm, margin=margin, channel=channel,
                                      pixel_size=pixel_size))
    scratch = Path(tempfile.mkdtemp(prefix=f".{stem}_labels.", suffix=".zarr", dir=out))
    try:
        with tqdm(total=len(blocks(array.shape[:2], block)), desc=f"blocks of {p.name}",
                  unit="block", disable=quiet) as bar:
            n, table = segment_blocks(array, block_labeller(seg, norm), scratch, block=block,
                                      margin=margin, progress=bar.update,
                                      measure_fn=block_measurer(p.name, pixel_size),
                                      run_blocks=run_blocks)
        labels = zarr.open(str(scratch), mode="r")
        write_tiled_tiff(labels, out / f"{stem}_labels.tif")
        if ome_zarr:
            write_ome_zarr(labels, out / f"{stem}_labels.ome.zarr", pixel_size)
        if keep_zarr:
            kept = out / f"{stem}_labels.zarr"
            shutil.rmtree(kept, ignore_errors=True)
            scratch.rename(kept)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"objects": n, "shape": tuple(array.shape), "labels": out / f"{stem}_labels.tif",
            "table": table if table is not None else pd.DataFrame(),
            "model": seg.trained_model()[0]}


def segment_huge(path: Path, out: Path, stem: str, opts) -> tuple[pd.DataFrame, list[dict]]:
    """The batch job's step for one huge single-frame image (:class:`BatchOptions`
    ``opts``): labels, an overview overlay, and its table and summary. Run as a Dask task,
    its blocks are spread over the cluster's workers."""
    from cellseg.core.measure import summarize
    from cellseg.distributed import client_in_task
    from cellseg.io.write import write_png
    from cellseg.viz.overlay import outline_overlay
    s = opts.segment
    if s.method != "unet":
        raise InputError(path, "images this large are segmented in blocks with the U-Net only "
                         "(--method unet)")
    for asked, option in ((s.probs, "--save-probs"), (opts.rois, "--rois"),
                          (opts.geojson, "--geojson")):
        if asked:
            raise InputError(path, f"{option} is not available for images segmented in blocks "
                             f"(over {opts.large_pixels / 1e6:.0f} megapixels)")
    from cellseg.jobs.segment_batch import resolve_pixel_size
    px, source = resolve_pixel_size(opts.pixel_size, path)
    with client_in_task() as client:
        res = segment_large(path, out, s.model, stem=stem, block=opts.block, tile=s.tile,
                            overlap=s.overlap, tta=s.tta, backend=s.backend,
                            diameter=s.diameter,
                            channel=opts.channel, pixel_size=px, quiet=True, client=client,
                            ome_zarr=opts.ome_zarr)
    labels = open_lazy(res["labels"])
    image = open_lazy(path, opts.channel)
    step = max(1, int(np.ceil(max(labels.shape) / 4096)))  # overview at most 4096 px wide
    write_png(out / f"{stem}_overlay.png", outline_overlay(np.asarray(image[::step, ::step]),
                                                           np.asarray(labels[::step, ::step])))
    summary = {**summarize(res["table"], path.name, pixel_size=px), "model": res["model"],
               "pixel_size_um": px, "pixel_size_source": source}
    return res["table"], [summary]
