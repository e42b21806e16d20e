"""Batch segmentation of files into labels, overlays and measurement tables.

For every input image ``OUT`` receives ``<stem>_labels.tif`` (one page per frame for stacks),
``<stem>_overlay.png`` (first frame) and, once both are written, a record in ``OUT/.cellseg/``
that marks the image done. ``measurements.csv`` and ``summary.csv`` are rebuilt from those
records at the end of every run, so a run that was killed and restarted skips finished images
and still writes complete tables. A file that fails is reported and the others go on.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from cellseg.errors import InputError
from cellseg.io.images import count_frames, find_images, read_frame
from cellseg.io.write import atomic_path, write_csv, write_labels, write_png
from cellseg.measurements import measure, summarize
from cellseg.overlay import outline_overlay
from cellseg.predict import DEFAULT_OVERLAP, DEFAULT_TILE

RECORDS = ".cellseg"


@dataclass
class RunResult:
    """What a batch run did: output stems done now, skipped as already done, and failures."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)

    @property
    def ok(self) -> bool:
        return not self.failed


def make_segmenter(method: str = "unet", model: str | Path | None = None, *,
                   tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP, tta: bool = False,
                   diameter: float | str | None = "auto", same_scale: bool = False,
                   with_probs: bool = False) -> tuple[Callable, dict]:
    """A function image -> (H, W) int32 labels, and a description of it for the records.

    diameter : typical object diameter in pixels, "auto" (measured per image) or None (no
        rescaling); see :meth:`cellseg.model.Segmenter.labels_and_probs`. Unet only.
    same_scale : with "auto", measure the diameter on the first image only and use it for all
        (the frames of a movie keep one scale).
    With ``with_probs`` (unet only) the function returns (labels, (H, W) foreground
    probability) instead.
    """
    if method == "otsu":
        from cellseg.classical import segment_otsu
        if with_probs:
            raise ValueError("probability maps need --method unet")
        return segment_otsu, {"method": "otsu"}
    if method != "unet":
        raise ValueError(f"unknown method {method!r}; choose unet or otsu")
    from cellseg.model import DEFAULT_MODEL, cached_model
    from cellseg.rescale import check_diameter
    if diameter != "auto":
        check_diameter(diameter)
    net = cached_model(model or DEFAULT_MODEL)
    desc = {"method": "unet", "model": str(model or DEFAULT_MODEL), "diameter": diameter}
    fixed: dict = {}

    def segment(image):
        d = diameter
        if d == "auto" and same_scale:
            if "diameter" not in fixed:
                fixed["diameter"] = net.measure_diameter(image, tile=tile, overlap=overlap)
            d = fixed["diameter"]
        labels, probs = net.labels_and_probs(image, diameter=d, tile=tile, overlap=overlap,
                                             tta=tta)
        return (labels, probs[0]) if with_probs else labels
    return segment, desc


def output_stems(paths: list[Path]) -> dict[Path, str]:
    """Output name for each input: its stem, prefixed by its folder where stems collide."""
    stems: dict[str, int] = {}
    for p in paths:
        stems[p.stem] = stems.get(p.stem, 0) + 1
    return {p: p.stem if stems[p.stem] == 1 else f"{p.parent.name}_{p.stem}" for p in paths}


def segment_file(path: Path, out: Path, stem: str, segmenter: Callable, *, channel: int | None,
                 pixel_size: float | None) -> tuple[pd.DataFrame, list[dict]]:
    """Segment every frame of one file and write its labels and overlay; return its tables."""
    n = count_frames(path)
    stack, tables, summaries, probs = [], [], [], []
    first = None
    for f in range(n):
        image = read_frame(path, f, channel=channel)
        labels = segmenter(image)
        if isinstance(labels, tuple):
            labels, fg = labels
            probs.append(np.clip(fg * 255 + 0.5, 0, 255).astype(np.uint8))
        if first is None:
            first = (image, labels)
        stack.append(labels)
        name = path.name if n == 1 else f"{path.name}[{f}]"
        t = measure(labels, image, pixel_size=pixel_size, image_name=name)
        if n > 1:
            t.insert(1, "frame", f)
        tables.append(t)
        summaries.append(summarize(t, name, pixel_size=pixel_size))
    write_labels(out / f"{stem}_labels.tif", np.stack(stack) if n > 1 else stack[0])
    if probs:
        import tifffile
        with atomic_path(out / f"{stem}_probs.tif") as tmp:
            tifffile.imwrite(tmp, np.stack(probs) if n > 1 else probs[0], compression="zlib")
    write_png(out / f"{stem}_overlay.png", outline_overlay(*first))
    return pd.concat(tables, ignore_index=True), summaries


@dataclass(frozen=True)
class SegmentOptions:
    """How to segment: passed as is to every worker of a cluster."""

    method: str = "unet"
    model: str | None = None
    tile: int = DEFAULT_TILE
    overlap: int = DEFAULT_OVERLAP
    tta: bool = False
    diameter: float | str | None = "auto"
    save_probs: bool = False
    channel: int | None = None
    pixel_size: float | None = None
    block: int = 2048                  # block size (pixels) for images above large_pixels
    large_pixels: int = 60_000_000     # above this (about 7,700 x 7,700) segment in blocks


def segmenter_for(opts: SegmentOptions) -> tuple[Callable, dict]:
    """:func:`make_segmenter` for ``opts``; the model itself loads once per process
    (:func:`cellseg.model.cached_model`)."""
    return make_segmenter(opts.method, opts.model, tile=opts.tile, overlap=opts.overlap,
                          tta=opts.tta, diameter=opts.diameter, with_probs=opts.save_probs)


def image_pixels(path: Path) -> int:
    """Height x width of a TIFF's first page without reading its pixels (0 for other files)."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        return 0
    import tifffile
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            return int(page.imagelength) * int(page.imagewidth)
    except Exception:
        return 0


def segment_huge(path: Path, out: Path, stem: str, opts: SegmentOptions):
    """Block-by-block segmentation of one huge single-frame image (see cellseg.large). Run as
    a Dask task, its blocks are spread over the cluster's workers."""
    import zarr
    from cellseg.distributed import client_in_task
    from cellseg.large import open_lazy, segment_large
    from cellseg.model import DEFAULT_MODEL
    if opts.method != "unet":
        raise InputError(path, "images this large are segmented in blocks with the U-Net only "
                         "(--method unet)")
    with client_in_task() as client:
        segment_large(path, out, opts.model or DEFAULT_MODEL, block=opts.block, tile=opts.tile,
                      overlap=opts.overlap, diameter=opts.diameter, quiet=True,
                      pixel_size=opts.pixel_size, client=client)
    table_path = out / f"{path.stem}_measurements.csv"
    table = pd.read_csv(table_path) if table_path.exists() else pd.DataFrame()
    if table_path.exists():
        table_path.unlink()
    (out / f"{path.stem}_labels.tif").replace(out / f"{stem}_labels.tif")
    labels = zarr.open(str(out / f"{path.stem}_labels.zarr"), mode="r")
    image = open_lazy(path)
    step = max(1, int(np.ceil(max(labels.shape) / 4096)))  # overview at most 4096 px wide
    write_png(out / f"{stem}_overlay.png", outline_overlay(np.asarray(image[::step, ::step]),
                                                           np.asarray(labels[::step, ::step])))
    return table, [summarize(table, path.name, pixel_size=opts.pixel_size)]


def process_image(path: Path, out: Path, stem: str, opts: SegmentOptions) -> str | None:
    """Segment one file into ``out`` and mark it done; returns None, or the one-line reason
    it failed. Safe to run in a worker process."""
    try:
        segmenter, desc = segmenter_for(opts)
        if image_pixels(path) > opts.large_pixels:
            table, summaries = segment_huge(path, out, stem, opts)
        else:
            table, summaries = segment_file(path, out, stem, segmenter, channel=opts.channel,
                                            pixel_size=opts.pixel_size)
        write_csv(out / RECORDS / f"{stem}.csv", table)
        with atomic_path(out / RECORDS / f"{stem}.json") as tmp:
            tmp.write_text(json.dumps({"input": str(path), "summaries": summaries, **desc}))
        return None
    except InputError as exc:
        return exc.problem


def run_segment(inputs: list[str | Path], out: str | Path, *, method: str = "unet",
                model: str | Path | None = None, channel: int | None = None,
                pixel_size: float | None = None, tile: int = DEFAULT_TILE,
                overlap: int = DEFAULT_OVERLAP,
                tta: bool = False, diameter: float | str | None = "auto",
                redo: bool = False, quiet: bool = False,
                save_probs: bool = False, client=None, block: int = 2048,
                large_pixels: int = SegmentOptions.large_pixels,
                log: Callable[[str], None] | None = None) -> RunResult:
    """Segment all images named by ``inputs`` (files, folders, globs) into folder ``out``.

    client : a ``dask.distributed.Client``; images are then segmented by its workers (which
        must see the same file system), else in this process. The blocks of a huge image are
        spread over the workers too.
    diameter : typical object diameter in pixels, "auto" (measured per image) or None (see
        :func:`make_segmenter`).
    block, large_pixels : single-frame TIFFs of more than ``large_pixels`` pixels are
        segmented in ``block`` x ``block`` pieces (see :mod:`cellseg.large`).
    """
    from tqdm import tqdm
    log = log or (lambda msg: print(msg, file=sys.stderr))
    out = Path(out)
    opts = SegmentOptions(method, None if model is None else str(model), tile, overlap, tta,
                          diameter, save_probs, channel, pixel_size, block, large_pixels)
    result = RunResult()
    paths: list[Path] = []
    for item in inputs:
        try:
            paths.extend(find_images([item]))
        except InputError as exc:
            result.failed.append((str(item), exc.problem))
            log(f"error: {exc}")
    stems = output_stems(list(dict.fromkeys(paths)))
    resolved_inputs = {p.resolve() for p in stems}
    records = out / RECORDS
    records.mkdir(parents=True, exist_ok=True)
    for stale in list(out.glob(".*.part")) + list(records.glob(".*.part")):
        stale.unlink()  # left by a run that was killed mid-write
    todo = []
    for path, stem in stems.items():
        if (records / f"{stem}.json").exists() and not redo:
            result.skipped.append(stem)
        elif any((out / f"{stem}{s}").resolve() in resolved_inputs
                 for s in ("_labels.tif", "_overlay.png", "_probs.tif")):
            result.failed.append((str(path), "an output would overwrite this input; "
                                  "choose another -o"))
            log(f"error: {path}: an output would overwrite this input; choose another -o")
        else:
            todo.append((path, stem))
    if todo and client is None:
        segmenter_for(opts)  # a bad model fails here, once, before any image
    bar = tqdm(total=len(todo), desc="segmenting", unit="img", disable=quiet)
    if client is None:
        outcomes = ((path, stem, process_image(path, out, stem, opts)) for path, stem in todo)
    else:
        from dask.distributed import as_completed
        futures = {client.submit(process_image, path, out, stem, opts, pure=False): (path, stem)
                   for path, stem in todo}
        outcomes = ((*futures[f], f.result()) for f in as_completed(futures))
    for path, stem, problem in outcomes:
        bar.update(1)
        if problem is None:
            result.done.append(stem)
        else:
            result.failed.append((str(path), problem))
            log(f"error: {path}: {problem}")
    bar.close()
    write_tables(out, [s for s in stems.values() if (records / f"{s}.json").exists()],
                 pixel_size)
    return result


def write_tables(out: Path, stems: list[str], pixel_size: float | None) -> None:
    """Rebuild measurements.csv and summary.csv from the per-image records of ``stems``."""
    records = out / RECORDS
    tables = [pd.read_csv(records / f"{s}.csv") for s in stems
              if (records / f"{s}.csv").stat().st_size > 1]
    tables = [t for t in tables if len(t)]
    summaries = [row for s in stems
                 for row in json.loads((records / f"{s}.json").read_text())["summaries"]]
    columns = pd.DataFrame(columns=["image", "label", "area", "centroid_y", "centroid_x"])
    write_csv(out / "measurements.csv", pd.concat(tables, ignore_index=True) if tables else columns)
    write_csv(out / "summary.csv", pd.DataFrame(summaries) if summaries
              else pd.DataFrame(columns=["image", "count", "mean_area", "median_area"]))
