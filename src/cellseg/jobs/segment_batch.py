"""The ``cellseg segment`` job: image files in, labels, overlays and tables out.

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

from cellseg.core.measure import measure, summarize
from cellseg.core.tiling import DEFAULT_OVERLAP, DEFAULT_TILE
from cellseg.errors import InputError
from cellseg.io.exports import write_geojson, write_rois
from cellseg.io.images import count_frames, find_images, read_frame
from cellseg.io.images import pixel_size as pixel_size_of
from cellseg.io.naming import output_stems
from cellseg.io.write import atomic_path, write_csv, write_labels, write_png
from cellseg.segmenter import Segmenter, SegmentOptions, make_segmenter
from cellseg.viz.overlay import outline_overlay

RECORDS = ".cellseg"
OUTPUT_SUFFIXES = ("_labels.tif", "_overlay.png", "_probs.tif", "_rois.zip", ".geojson")


@dataclass
class RunResult:
    """What a batch run did: output stems done now, skipped as already done, and failures."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class BatchOptions:
    """How to segment a batch of files: passed as is to every worker of a cluster."""

    segment: SegmentOptions = SegmentOptions()
    channel: int | None = None         # channel (0-based) of multi-channel images
    pixel_size: float | str | None = "auto"  # µm per pixel (adds µm columns); "auto": the
                                             # file's own calibration when it has one
    block: int = 2048                  # block size (pixels) for images above large_pixels
    large_pixels: int = 60_000_000     # above this (about 7,700 x 7,700) segment in blocks
    rois: bool = False                 # also write <stem>_rois.zip (ImageJ/Fiji ROIs)
    geojson: bool = False              # also write <stem>.geojson (QuPath detections)
    ome_zarr: bool = False             # huge images: also <stem>_labels.ome.zarr (pyramid)


def segment_file(path: Path, out: Path, stem: str, segmenter: Segmenter,
                 opts: BatchOptions) -> tuple[pd.DataFrame, list[dict]]:
    """Segment every frame of one file and write its labels (and probabilities when the
    segmenter gives them, ROIs and GeoJSON when asked) and overlay; return its measurements
    and per-frame summaries."""
    channel = opts.channel
    pixel_size, source = resolve_pixel_size(opts.pixel_size, path)
    n = count_frames(path)
    stack, tables, summaries, probs = [], [], [], []
    first = None
    for f in range(n):
        image = read_frame(path, f, channel=channel)
        result = segmenter(image)
        if result.probs is not None:
            probs.append(np.clip(result.probs * 255 + 0.5, 0, 255).astype(np.uint8))
        first = first or (image, result.labels)
        stack.append(result.labels)
        name = path.name if n == 1 else f"{path.name}[{f}]"
        t = measure(result.labels, image, pixel_size=pixel_size, image_name=name)
        if n > 1:
            t.insert(1, "frame", f)
        tables.append(t)
        summaries.append({**summarize(t, name, pixel_size=pixel_size), "model": result.model,
                          "pixel_size_um": pixel_size, "pixel_size_source": source})
    write_labels(out / f"{stem}_labels.tif", np.stack(stack) if n > 1 else stack[0], pixel_size)
    if probs:
        import tifffile
        with atomic_path(out / f"{stem}_probs.tif") as tmp:
            tifffile.imwrite(tmp, np.stack(probs) if n > 1 else probs[0], compression="zlib")
    write_png(out / f"{stem}_overlay.png", outline_overlay(*first))
    if opts.rois:
        write_rois(out / f"{stem}_rois.zip", stack)
    if opts.geojson:
        write_geojson(out / f"{stem}.geojson", stack, tables)
    return pd.concat(tables, ignore_index=True), summaries


def resolve_pixel_size(option: float | str | None, path: Path) -> tuple[float | None, str]:
    """(µm per pixel or None, where it came from: "given", "file" or "none") for one file."""
    if option == "auto":
        size = pixel_size_of(path)
        return size, "file" if size else "none"
    return (float(option), "given") if option else (None, "none")


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


def process_image(path: Path, out: Path, stem: str, opts: BatchOptions) -> str | None:
    """Segment one file into ``out`` and mark it done; returns None, or the one-line reason
    it failed. Safe to run in a worker process."""
    from cellseg.jobs.segment_huge import segment_huge
    try:
        segmenter = make_segmenter(opts.segment)
        if image_pixels(path) > opts.large_pixels:
            table, summaries = segment_huge(path, out, stem, opts)
        else:
            table, summaries = segment_file(path, out, stem, segmenter, opts)
        write_csv(out / RECORDS / f"{stem}.csv", table)
        with atomic_path(out / RECORDS / f"{stem}.json") as tmp:
            tmp.write_text(json.dumps({"input": str(path), "summaries": summaries,
                                       **segmenter.describe()}))
        return None
    except InputError as exc:
        return exc.problem


def plan(paths: list[Path], out: Path, redo: bool, result: RunResult, log) -> list[tuple]:
    """(path, stem) of the images to do: finished ones are skipped unless ``redo``; one whose
    outputs would overwrite an input fails."""
    stems = output_stems(list(dict.fromkeys(paths)))
    inputs = {p.resolve() for p in stems}
    todo = []
    for path, stem in stems.items():
        if (out / RECORDS / f"{stem}.json").exists() and not redo:
            result.skipped.append(stem)
        elif any((out / f"{stem}{s}").resolve() in inputs for s in OUTPUT_SUFFIXES):
            result.failed.append((str(path), "an output would overwrite this input; "
                                  "choose another -o"))
            log(f"error: {path}: an output would overwrite this input; choose another -o")
        else:
            todo.append((path, stem))
    return todo


def run_segment(inputs: list[str | Path], out: str | Path, *, method: str = "unet",
                model: str | Path | None = None, channel: int | None = None,
                pixel_size: float | str | None = "auto", tile: int = DEFAULT_TILE,
                overlap: int = DEFAULT_OVERLAP, tta: bool = False, backend: str = "auto",
                diameter: float | str | None = "auto", redo: bool = False,
                quiet: bool = False, save_probs: bool = False, client=None,
                block: int = BatchOptions.block, large_pixels: int = BatchOptions.large_pixels,
                rois: bool = False, geojson: bool = False, ome_zarr: bool = False,
                log: Callable[[str], None] | None = None) -> RunResult:
    """Segment all images named by ``inputs`` (files, folders, globs) into folder ``out``.

    Parameters
    ----------
    method, model, tile, overlap, tta, backend, diameter : see
        :class:`cellseg.segmenter.SegmentOptions` (model None: chosen per image).
    channel : channel (0-based) of multi-channel images.
    pixel_size : µm per pixel; "auto" (default) reads it from each file (OME-TIFF, ImageJ
        TIFF) when it is recorded there; None: pixels only.
    redo : segment again images already done in ``out``.
    save_probs : also write ``<stem>_probs.tif`` (foreground probability x 255).
    rois, geojson : also write ``<stem>_rois.zip`` (Fiji ROI Manager) and ``<stem>.geojson``
        (QuPath detections with their measurements); see :mod:`cellseg.io.exports`.
    client : a ``dask.distributed.Client``; images are then segmented by its workers (which
        must see the same file system), and a huge image's blocks are spread over them.
    block, large_pixels : single-frame TIFFs of more than ``large_pixels`` pixels are
        segmented in ``block`` x ``block`` pieces (see :mod:`cellseg.jobs.segment_huge`).
    ome_zarr : such huge images also get ``<stem>_labels.ome.zarr``, an OME-Zarr multiscale
        pyramid at their pixel size.

    Returns
    -------
    RunResult : the stems done, skipped and failed (with one-line reasons).
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    out = Path(out)
    seg = SegmentOptions(method=method, model=None if model is None else str(model),
                         diameter=diameter, tta=tta, probs=save_probs, tile=tile,
                         overlap=overlap, backend=backend)
    opts = BatchOptions(seg, channel, pixel_size, block, large_pixels, rois, geojson, ome_zarr)
    result = RunResult()
    paths: list[Path] = []
    for item in inputs:
        try:
            paths.extend(find_images([item]))
        except InputError as exc:
            result.failed.append((str(item), exc.problem))
            log(f"error: {exc}")
    (out / RECORDS).mkdir(parents=True, exist_ok=True)
    for stale in list(out.glob(".*.part")) + list((out / RECORDS).glob(".*.part")):
        stale.unlink()  # left by a run that was killed mid-write
    todo = plan(paths, out, redo, result, log)
    if todo and client is None:
        make_segmenter(seg)  # a bad model or option fails here, once, before any image
    run_all(todo, out, opts, client, result, log, quiet)
    stems = output_stems(list(dict.fromkeys(paths))).values()
    write_tables(out, [s for s in stems if (out / RECORDS / f"{s}.json").exists()])
    return result


def run_all(todo: list[tuple], out: Path, opts: BatchOptions, client, result: RunResult,
            log, quiet: bool) -> None:
    """Process ``todo`` here or on a Dask cluster, recording outcomes in ``result``."""
    from tqdm import tqdm
    if client is None:
        outcomes = ((path, stem, process_image(path, out, stem, opts)) for path, stem in todo)
    else:
        from dask.distributed import as_completed
        futures = {client.submit(process_image, path, out, stem, opts, pure=False): (path, stem)
                   for path, stem in todo}
        outcomes = ((*futures[f], f.result()) for f in as_completed(futures))
    with tqdm(total=len(todo), desc="segmenting", unit="img", disable=quiet) as bar:
        for path, stem, problem in outcomes:
            bar.update(1)
            if problem is None:
                result.done.append(stem)
            else:
                result.failed.append((str(path), problem))
                log(f"error: {path}: {problem}")


def write_tables(out: Path, stems: list[str]) -> None:
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
              else pd.DataFrame(columns=["image", "count", "mean_area", "median_area", "model"]))
