"""The ``cellseg`` command. Thin: parses options, calls the API, prints. Heavy imports
(torch) happen inside the commands so that ``--help`` is instant."""
from __future__ import annotations

import json
import warnings
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from cellseg.errors import InputError
from cellseg.model.trained import BACKENDS

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Segment, measure, evaluate and track cells and nuclei in microscopy images.")


class Method(str, Enum):
    unet = "unet"
    otsu = "otsu"


Backend = Enum("Backend", {name: name for name in BACKENDS}, type=str)


BACKEND_HELP = ("How the network runs on CPU: auto or onnx (ONNX Runtime, float32), torch "
                "(PyTorch float32), bf16 (PyTorch bfloat16: about 1.4x faster on CPUs with "
                "AMX-BF16, labels differ slightly from float32's).")
DIAMETER_HELP = ("Typical object diameter in pixels; the image is resized for the model when "
                 "it differs from the model's by over 1.75x. 'auto' measures it on a first "
                 "pass and again at the size chosen, 'off' never resizes.")


def auto_off_or_positive(text: str, option: str, unit: str) -> float | str | None:
    """An option value that is "auto", "off" (None) or a positive number of ``unit``."""
    if text.lower() in ("auto", "off"):
        return None if text.lower() == "off" else "auto"
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise typer.BadParameter(f"expected auto, off or a positive number of {unit}, "
                                 f"got {text!r}", param_hint=option)
    return value


def parse_diameter(text: str) -> float | str | None:
    """--diameter value: "auto", "off" (None) or a positive number of pixels."""
    return auto_off_or_positive(text, "--diameter", "pixels")


def parse_pixel_size(text: str) -> float | str | None:
    """--pixel-size value: "auto", "off" (None) or a positive number of µm per pixel."""
    return auto_off_or_positive(text, "--pixel-size", "µm")


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def segment(
    inputs: List[str] = typer.Argument(..., metavar="INPUT...",
                                       help="Image files, folders or glob patterns."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder."),
    method: Method = typer.Option(Method.unet, help="unet (bundled/trained model) or otsu."),
    model: Optional[str] = typer.Option(None, help="nuclei, he (stained tissue), cells (whole "
                                        "cells, phase contrast) or a model folder. Default: "
                                        "chosen per image (he for stained tissue, else "
                                        "nuclei)."),
    pixel_size: str = typer.Option("auto", help="µm per pixel: adds µm columns. 'auto' reads "
                                   "it from the file (OME-TIFF, ImageJ TIFF) when recorded "
                                   "there; 'off' for pixels only."),
    channel: Optional[str] = typer.Option(None, help="Use this channel of multi-channel "
                                          "images: 0-based index or the channel's name "
                                          "(OME-TIFF, ImageJ)."),
    tile: int = typer.Option(1024, help="Tile size in pixels; smaller images are predicted whole."),
    overlap: int = typer.Option(128, help="Overlap of neighbouring tiles in pixels."),
    tta: bool = typer.Option(False, "--tta", help="Test-time augmentation (8x slower)."),
    backend: Backend = typer.Option(Backend("auto"), help=BACKEND_HELP),
    diameter: str = typer.Option("auto", help=DIAMETER_HELP + " Unet only."),
    block_size: int = typer.Option(2048, help="Huge TIFFs (over 60 megapixels) are segmented "
                                   "in blocks of this many pixels a side."),
    workers: Optional[int] = typer.Option(None, help="Run on a local Dask cluster of N workers "
                                          "(a huge image's blocks are spread over them too)."),
    scheduler: Optional[str] = typer.Option(None, help="Address of a Dask scheduler."),
    redo: bool = typer.Option(False, "--redo", help="Redo images already done in OUT."),
    save_probs: bool = typer.Option(False, "--save-probs", help="Also write <stem>_probs.tif "
                                    "(foreground probability x 255, unet only)."),
    rois: bool = typer.Option(False, "--rois", help="Also write <stem>_rois.zip: one ImageJ "
                              "polygon ROI per object, for Fiji's ROI Manager."),
    geojson: bool = typer.Option(False, "--geojson", help="Also write <stem>.geojson: one "
                                 "QuPath detection per object, measurements as properties."),
    ome_zarr: bool = typer.Option(False, "--ome-zarr", help="Huge images (segmented in "
                                  "blocks): also write <stem>_labels.ome.zarr, a multiscale "
                                  "OME-Zarr pyramid at the pixel size."),
    report: bool = typer.Option(False, "--report", help="Also write OUT/report.html."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
):
    """Segment images: OUT/<stem>_labels.tif, <stem>_overlay.png, measurements.csv, summary.csv."""
    from cellseg.jobs.segment_batch import run_segment
    from cellseg.viz.report import build_report
    client = None
    if workers or scheduler:
        from cellseg.distributed import make_client
        client = make_client(workers, scheduler)
    try:
        result = run_segment(inputs, output, method=method.value, model=model, channel=channel,
                             pixel_size=parse_pixel_size(pixel_size), tile=tile, overlap=overlap, tta=tta,
                             backend=backend.value,
                             diameter=parse_diameter(diameter), redo=redo, quiet=quiet,
                             save_probs=save_probs, client=client, block=block_size,
                             rois=rois, geojson=geojson, ome_zarr=ome_zarr)
    except (InputError, ValueError) as exc:
        fail(str(exc))
    finally:
        if client is not None:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None and not scheduler:
                cluster.close()
    if report and (output / "summary.csv").exists():
        path = build_report(output)
        if not quiet:
            typer.echo(f"report: {path}")
    if not quiet:
        typer.echo(f"{len(result.done)} segmented, {len(result.skipped)} already done, "
                   f"{len(result.failed)} failed -> {output}")
    if result.failed:
        typer.echo("failed:", err=True)
        for path, why in result.failed:
            typer.echo(f"  {path}: {why}", err=True)
        raise typer.Exit(1)


@app.command()
def measure(
    labels: List[Path] = typer.Argument(..., metavar="LABELS...",
                                        help="Label images (files or folders)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output CSV file."),
    images: Optional[Path] = typer.Option(None, help="Folder of the intensity images, "
                                          "matched by name."),
    pixel_size: Optional[float] = typer.Option(None, help="µm per pixel: adds µm columns."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Measure objects in label images made elsewhere (e.g. by hand in Fiji)."""
    from cellseg.jobs.measure_folder import run_measure
    try:
        objects, measured, failed = run_measure(labels, output, images=images,
                                                pixel_size=pixel_size,
                                                log=lambda m: typer.echo(m, err=True))
    except InputError as exc:
        fail(str(exc))
    if not quiet:
        typer.echo(f"{objects} objects in {measured} images -> {output}")
    if failed:
        raise typer.Exit(1)


@app.command()
def evaluate(
    pred: Path = typer.Argument(..., help="Folder of predicted label images (*_labels.tif)."),
    truth: Path = typer.Argument(..., help="Annotated dataset folder or folder of label images."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="Folder for scores.json and per_image.csv."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    baseline: bool = typer.Option(True, help="Score the Otsu pipeline on the same images too."),
    report: bool = typer.Option(False, "--report", help="Also write OUT/report.html."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Score predictions against ground truth (DSB2018 score, AP, F1, PQ, AJI, SEG, ...)."""
    from cellseg.jobs.evaluate_folder import format_table, run_evaluate
    if report and not output:
        fail("--report needs -o OUT")
    try:
        scores, base = run_evaluate(pred, truth, output, baseline=baseline,
                                    log=lambda m: typer.echo(m, err=True))
    except InputError as exc:
        fail(str(exc))
    if report:
        from cellseg.viz.report import build_report
        typer.echo(f"report: {build_report(output)}", err=quiet)
    if as_json:
        typer.echo(json.dumps({**scores, **({"otsu_baseline": base} if base else {})}))
    elif not quiet:
        typer.echo(format_table({"prediction": scores, **({"otsu": base} if base else {})}))


@app.command()
def train(
    data: List[Path] = typer.Argument(..., metavar="DATA...", help="Annotated dataset folders."),
    output: Path = typer.Option(..., "-o", "--output", help="Model folder to write."),
    config: Optional[Path] = typer.Option(None, help="YAML file with training options."),
    epochs: Optional[int] = typer.Option(None),
    patch_size: Optional[int] = typer.Option(None, help="Crop side in pixels."),
    batch_size: Optional[int] = typer.Option(None),
    width: Optional[int] = typer.Option(None, help="U-Net base width."),
    loss: Optional[str] = typer.Option(None, help="bce, weighted_bce, dice, bce_dice, jaccard, "
                                       "focal, tversky or combo."),
    val_fraction: Optional[float] = typer.Option(None),
    init: Optional[str] = typer.Option(None, "--init", help="Fine-tune this model (bundled "
                                       "name or folder): its network, outputs and input."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoint."),
    report: bool = typer.Option(False, "--report", help="Also write MODEL_DIR/report.html."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Train a U-Net on annotated images; writes MODEL_DIR/model.safetensors + model.json."""
    from cellseg.training import TrainConfig
    from cellseg.training import train as run_train
    try:
        cfg = TrainConfig.from_file(config) if config else TrainConfig()
        overrides = {k: v for k, v in dict(epochs=epochs, patch_size=patch_size,
                     batch_size=batch_size, loss=loss,
                     val_fraction=val_fraction).items() if v is not None}
        cfg = TrainConfig.from_dict({**cfg.to_dict(), **overrides,
                                     "network": {**cfg.network.to_dict(),
                                                 **({"width": width} if width else {})}})
        if init:
            from cellseg.model.store import load_model
            cfg = cfg.starting_from(load_model(init))
        if loss:
            from cellseg.training.losses import get_loss
            get_loss(loss)
        run_train(data, output, cfg, resume=resume, quiet=quiet)
        if report:
            from cellseg.viz.report import build_report
            typer.echo(f"report: {build_report(output)}")
    except InputError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        raise typer.Exit(130)


@app.command()
def track(
    movie: Path = typer.Argument(..., help="Multi-page TIFF, folder of frames, GIF or AVI/MP4."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder."),
    grid: Optional[str] = typer.Option(None, help="Split frames into a grid of wells, e.g. 4x4."),
    fill_wells: bool = typer.Option(True, help="With --grid: set the background outside each "
                                    "well to the well's mean before segmenting."),
    compare: Optional[Path] = typer.Option(None, help="Manual measurements CSV (frame, area "
                                           "[, track]) to compare with."),
    max_gap: int = typer.Option(2, help="Frames a cell may be missed and still keep its track."),
    method: Method = typer.Option(Method.unet, help="unet (bundled/trained model) or otsu."),
    model: Optional[str] = typer.Option(None, help="Bundled model name or model folder."),
    channel: Optional[int] = typer.Option(None, help="Channel (0-based) of multi-channel movies."),
    tile: int = typer.Option(1024, help="Tile size in pixels."),
    overlap: int = typer.Option(128, help="Tile overlap in pixels."),
    tta: bool = typer.Option(False, "--tta", help="Test-time augmentation."),
    backend: Backend = typer.Option(Backend("auto"), help=BACKEND_HELP),
    diameter: str = typer.Option("auto", help=DIAMETER_HELP + " Measured on the first frame "
                                 "and kept for the whole movie. Unet only."),
    report: bool = typer.Option(False, "--report", help="Also write OUT/report.html."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Segment every frame, follow each cell, plot its area over time."""
    from cellseg.core.wells import parse_grid
    from cellseg.jobs.track_movie import compare_manual, run_track
    from cellseg.segmenter import make_segmenter
    try:
        shape = parse_grid(grid) if grid else None
        segmenter = make_segmenter(method=method.value, model=model, tile=tile, overlap=overlap,
                                   tta=tta, backend=backend.value,
                                   diameter=parse_diameter(diameter), same_scale=True)
        tracks = run_track(movie, output, segmenter, grid=shape, fill_wells=fill_wells,
                           max_gap=max_gap, channel=channel, quiet=quiet)
        if compare:
            result = compare_manual(tracks, compare, output)
            for r in result["series"]:
                if r.get("frames"):
                    typer.echo(f"manual {r['series']} vs track {r['track_id']}: "
                               f"r = {r['pearson_r']:.3f}, mean relative error "
                               f"{100 * r['mean_relative_error']:.1f} % over {r['frames']} frames")
                else:
                    typer.echo(f"manual {r['series']}: no track covers its frames")
    except (InputError, ValueError) as exc:
        fail(str(exc))
    if report:
        from cellseg.viz.report import build_report
        typer.echo(f"report: {build_report(output)}", err=quiet)
    if not quiet:
        n = tracks["track_id"].nunique() if len(tracks) else 0
        typer.echo(f"{n} tracks over {tracks['frame'].max() + 1 if len(tracks) else 0} frames "
                   f"-> {output}")


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="Output folder of segment, evaluate, train or track."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="HTML file (default RUN_DIR/report.html)."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Write one self-contained HTML report (plots and pictures embedded) of a run folder."""
    from cellseg.viz.report import build_report
    try:
        path = build_report(run_dir, output)
    except InputError as exc:
        fail(str(exc))
    if not quiet:
        typer.echo(f"report: {path}")


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """cellseg's own warnings as one ``warning: ...`` line on stderr; others as Python
    shows them."""
    if "cellseg" in Path(filename).parts:
        typer.echo(f"warning: {message}", err=True)
    else:
        DEFAULT_SHOW_WARNING(message, category, filename, lineno, file, line)


DEFAULT_SHOW_WARNING = warnings.showwarning


def main() -> None:
    warnings.showwarning = show_warning
    app()


if __name__ == "__main__":
    main()
