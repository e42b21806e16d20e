"""Generalization: models scored on images of a source they never saw, beside Otsu.

    python benchmarks/generalization.py --only he --he-without-monuseg runs/he_no_monuseg \
        --he-without-monuseg runs/he_pretrained_no_monuseg \
        --he-without-monuseg runs/he_rgb_no_monuseg_stopped \
        --he-without-monuseg runs/he_boundary_no_monuseg \
        --he-without-monuseg runs/he_flows_no_monuseg \
        --he-without-dsb-histology runs/he_boundary_no_dsb

Rows, per source, gray (fluorescence) first:

- four gray sources: the DSB2018 fluorescence experiment of 512x640 images, the simulated CTC
  movie Fluo-N2DH-SIM+/01 (every 4th annotated frame), that movie again with Gaussian noise
  added (sigma 20 gray levels: signal-to-noise about 3 instead of 11, seeded) for a low-SNR
  stand-in, and the CTC GOWT1 movie, which no model trains on (its ground truth outlines 2
  nuclei per frame: read its SEG, the other columns count the unannotated nuclei as false
  positives). Each row says whether its model trained on the source ("trained on") or not
  ("left out"), from the model's card (:func:`seen_in_training`). Methods: the nuclei model,
  models trained without the 512x640 experiment and SIM+ (``--nuclei-without``, rows named by
  folder), other nuclei models (``--previous-nuclei``, rows named by folder) and the Otsu
  pipeline. Before 0.18.0 ``leave_out: [fluorescence/512x640]`` matched nothing when training
  loaded two dataset folders, so every bundled nuclei model up to 0.11.0 trained on the
  512x640 images: their rows there are "trained on";
- the gray nuclei model's own validation split (in-distribution);

- MoNuSeg 2018 train (30 H&E images, 7 organs, several hospitals): the H&E models trained
  WITHOUT MoNuSeg (leave-one-source-out: from scratch on the hematoxylin channel, on RGB, with
  rims, with flows, and on the ImageNet-pretrained encoder; a row per instance step each was
  tuned for), the default (automatic model choice,
  whose H&E model did see MoNuSeg: shown for reference only), the gray nuclei model and the
  Otsu pipeline;
- with ``--he-without-dsb-histology``: the 107 DSB2018 colour histology images (one
  experiment group of DSB2018) with H&E models trained without them, and the same methods;
- the H&E model's own validation split (patients/experiments held out of its training), per
  source: in-distribution figures.

Metrics: DSB2018 score (mean over images), AP@0.5 and F1@0.5 (pooled over objects), PQ and AJI
(per image, averaged, as HoVer-Net reports them), CTC SEG (mean IoU of each true object with
its match), mean absolute count error, predicted / true object count, and seconds per image on
this machine.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from cellseg.core import rescale
from cellseg.core.metrics import image_scores, summarize
from cellseg.io.datasets import dsb_image_type, open_dataset
from cellseg.model.store import load_model
from cellseg.model.trained import BACKENDS
from cellseg.segmenter import make_segmenter

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def segmenter(**options):
    """The segmenter for ``options`` under the backend (--backend) and test-time
    augmentation (--tta) chosen (the Otsu pipeline ignores both)."""
    return make_segmenter(backend=BACKEND, tta=TTA, **options)


def score(segment, items) -> tuple[dict, float]:
    """(dataset scores, seconds per image) of a callable image -> labels on items."""
    per_image, seconds = [], 0.0
    for image, truth in items:
        t0 = time.perf_counter()
        labels = segment(image)
        seconds += time.perf_counter() - t0
        per_image.append(image_scores(truth, labels))
    return summarize(per_image), seconds / max(1, len(items))


def row(source: str, method: str, s: dict, sec: float) -> str:
    return (f"{source:<32}{method:<44}{s['images']:>5}{s['dsb_score']:>7.3f}{s['ap50']:>7.3f}"
            f"{s['f1_50']:>7.3f}{s['pq']:>7.3f}{s['aji']:>7.3f}{s['seg']:>7.3f}"
            f"{s['count_mae']:>9.1f}{s['n_pred'] / max(1, s['n_true']):>9.2f}{sec:>7.2f}")


HEADER = (f"{'source':<32}{'method':<44}{'imgs':>5}{'DSB':>7}{'AP50':>7}{'F1@50':>7}{'PQ':>7}"
          f"{'AJI':>7}{'SEG':>7}{'countMAE':>9}{'pred/true':>9}{'s/img':>7}")
BACKEND = "auto"  # --backend: how the networks run (auto: ONNX Runtime float32 on CPU)
TTA = False  # --tta: test-time augmentation
NOISE_SIGMA = 20.0  # gray levels added to SIM+ frames for the low-SNR rows


def with_noise(items: list, sigma: float, seed: int = 0) -> list:
    """Items whose images carry extra Gaussian noise (sigma in gray levels, clipped, same
    dtype); prints the signal-to-noise ratio before and after (object minus background mean,
    over the background's standard deviation)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    out, snr = [], []
    for image, truth in items:
        noisy = image + rng.normal(0, sigma, image.shape)
        noisy = noisy.clip(0, np.iinfo(image.dtype).max).astype(image.dtype)
        for im in (image, noisy):
            fg, bg = im[truth > 0].astype(float), im[truth == 0].astype(float)
            snr.append((fg.mean() - bg.mean()) / bg.std())
        out.append((noisy, truth))
    print(f"# SIM+ signal-to-noise: {np.mean(snr[0::2]):.1f} as recorded, "
          f"{np.mean(snr[1::2]):.1f} with noise sigma {sigma:g}")
    return out


def gray_sources(max_images: int | None) -> dict[str, tuple[str, list, list]]:
    """The gray sources (see the module docstring): {name: (dataset folder name, items,
    (image, truth) pairs)}."""
    dsb = [(it, it.load()) for it in open_dataset(SHARED / "dsb2018" / "stage1_train")]
    dsb = [(it, pair) for it, pair in dsb
           if pair[0].shape[:2] == (512, 640) and dsb_image_type(pair[0]) == "fluorescence"]
    sim = list(open_dataset(SHARED / "ctc" / "Fluo-N2DH-SIM+"))[::4][:max_images]
    gowt1 = list(open_dataset(SHARED / "ctc" / "Fluo-N2DH-GOWT1"))[::3][:max_images]
    sim_pairs = [it.load() for it in sim]
    return {"DSB fluo 512x640": ("stage1_train", [it for it, _ in dsb][:max_images],
                                 [pair for _, pair in dsb][:max_images]),
            "CTC SIM+ 01": ("Fluo-N2DH-SIM+", sim, sim_pairs),
            "CTC SIM+ 01 noisy": ("Fluo-N2DH-SIM+", sim, with_noise(sim_pairs, NOISE_SIGMA)),
            "CTC GOWT1 01, SEG": ("Fluo-N2DH-GOWT1", gowt1, [it.load() for it in gowt1])}


def seen_in_training(card: dict, folder: str, items: list) -> bool:
    """Whether the model of ``card`` trained on any of ``items`` (:class:`Item`, of the dataset
    folder named ``folder``): the folder is among its training data and some item is neither
    in its validation nor left out. Cards written before 0.18.0 do not list their left-out
    ids; their ``leave_out`` matched only groups a dataset names itself (CTC movies), not the
    appearance groups of DSB2018 images, so only those count as left out for them."""
    from cellseg.training.data import left_out
    training = card.get("training", {})
    if folder not in {Path(d).name for d in training.get("data", [])}:
        return False
    apart = set(training.get("val_ids") or ())
    if "left_out_ids" in training:
        apart |= set(training["left_out_ids"])
    else:
        leave = training.get("config", {}).get("leave_out") or ()
        apart |= {it.id for it in items if it.group and left_out(it.group, leave)}
    return any(it.id not in apart for it in items)


def gray_rows(nuclei: str, without: list[str], previous: list[str],
              max_images: int | None) -> None:
    """Rows of the gray sources and of the nuclei model's validation split."""
    lab = lambda seg: (lambda im: seg(im).labels)  # noqa: E731
    models = {"nuclei model": nuclei, **{Path(f).name: f for f in without + previous}}
    methods = {name: lab(segmenter(model=path)) for name, path in models.items()}
    cards = {name: load_model(path).card for name, path in models.items()}
    methods["otsu pipeline"] = lab(segmenter(method="otsu"))
    for source, (folder, members, pairs) in gray_sources(max_images).items():
        for name, fn in methods.items():
            seen = name in cards and seen_in_training(cards[name], folder, members)
            tag = "" if name not in cards else " (trained on)" if seen else " (left out)"
            print(row(source + tag, name, *score(fn, pairs)), flush=True)
    for source, items in validation_items(nuclei).items():
        for name, fn in methods.items():
            print(row(f"{source} (validation)", name, *score(fn, items[:max_images])),
                  flush=True)


def validation_items(model_path: str) -> dict[str, list]:
    """The validation images of a model (ids in its card), grouped by dataset folder."""
    card = load_model(model_path).card
    val_ids = set(card["training"]["val_ids"])
    types = card["training"]["config"].get("types") or []
    out: dict[str, list] = {}
    for folder in card["training"]["data"]:
        path = Path(folder)
        if not path.exists():  # a card written on another machine: look in ../shared/data
            path = next(SHARED.rglob(path.name), path)
        for it in open_dataset(path):
            if it.id in val_ids:
                image, truth = it.load()
                if not types or dsb_image_type(image) in types:
                    out.setdefault(path.name, []).append((image, truth))
    return out


# the seeds of each instance step, as rows name them
SEEDS = {"distance": "centre", "maxima": "h-maxima", "boundary": "rims", "flows": "flows"}


def left_out_methods(model_path: str) -> dict:
    """{row name: image -> labels} of an H&E model trained without a source: named by its
    network (U-Net, or on the ImageNet-pretrained EfficientNet-Lite0 encoder; "mean of 2 nets"
    for an ensemble; "+rims" or
    "+flows" when it also predicts object rims or flows) and input channel, one row per
    instance step it was tuned for (its card's ``instances_by_method``: seeds from the centre
    distance, its h-maxima, the rims or the flows' sinks),
    each with that step's tuned thresholds."""
    model = load_model(model_path)
    card = model.card
    members = card["architecture"].get("members")
    if members:
        net = f"mean of {len(members)} nets"
    else:
        net = "U-Net" if card["architecture"].get("encoder", "plain") == "plain" else "EffNet-Lite0"
    extra = {"boundary": "+rims", "flow_x": "+flows"}  # by the network's last output
    net += extra.get(card["outputs"][-1], "")
    name = f"{net}, {card.get('input', {}).get('channels', 'gray')}"
    segment = lambda m: (lambda im: m.segment(im, diameter="auto", backend=BACKEND,  # noqa: E731
                                                tta=TTA))
    by_method = card.get("instances_by_method")
    if not by_method:
        return {name: segment(model)}
    return {f"{name}, {SEEDS[m]}": segment(model.with_instances(p)) for m, p in by_method.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--he", default="he", help="the H&E model (bundled name or folder)")
    ap.add_argument("--he-without-monuseg", action="append", default=[],
                    help="an H&E model trained without MoNuSeg (configs/he*.yaml with the "
                         "data but he/monuseg_train); repeat to compare several")
    ap.add_argument("--he-without-dsb-histology", action="append", default=[],
                    help="an H&E model trained without DSB2018 (its 107 colour histology "
                         "images: data he/* only); repeat to compare several")
    ap.add_argument("--nuclei", default="nuclei", help="the gray nuclei model")
    ap.add_argument("--nuclei-without", action="append", default=[],
                    help="a gray nuclei model trained without the 512x640 experiment and SIM+ "
                         "(configs/nuclei_scratch_leftout.yaml); repeatable")
    ap.add_argument("--previous-nuclei", action="append", default=[],
                    help="a previous nuclei model to compare with (folder; rows named by "
                         "it); repeat to compare several")
    ap.add_argument("--only", choices=["gray", "he"], default=None)
    ap.add_argument("--backend", choices=BACKENDS, default="auto",
                    help="how the networks run (bf16: CPU bfloat16 autocast)")
    ap.add_argument("--tta", action="store_true",
                    help="networks predict the mean over 8 flips and 90-degree rotations")
    ap.add_argument("--max-images", type=int, default=None)
    ap.add_argument("--tolerance", type=float, default=None,
                    help="with --diameter auto, resize when objects are off by more than this "
                         f"(default {rescale.TOLERANCE})")
    args = ap.parse_args()
    global BACKEND, TTA
    BACKEND, TTA = args.backend, args.tta
    if args.tta:
        print("# test-time augmentation: mean over 8 flips/rotations (not the default)")
    if args.backend != "auto":
        print(f"# backend {args.backend} (not the default)")
    if args.tolerance:
        rescale.TOLERANCE = args.tolerance
        print(f"# resize tolerance {rescale.TOLERANCE}x (not the default)")
    print(HEADER)
    if args.only != "he":
        gray_rows(args.nuclei, args.nuclei_without, args.previous_nuclei, args.max_images)
    if args.only == "gray":
        return
    lab = lambda seg: (lambda im: seg(im).labels)  # noqa: E731
    methods = {"default (automatic choice)": lab(segmenter()),
               "gray nuclei model": lab(segmenter(model="nuclei")),
               "otsu pipeline": lab(segmenter(method="otsu"))}
    monuseg = [it.load() for it in open_dataset(SHARED / "he" / "monuseg_train")]
    dsb_histology = [(im, truth) for im, truth in (it.load() for it in open_dataset(
        SHARED / "dsb2018" / "stage1_train")) if dsb_image_type(im) == "histology"]
    for source, items, without in (("MoNuSeg train", monuseg, args.he_without_monuseg),
                                   ("DSB histology", dsb_histology, args.he_without_dsb_histology)):
        if source == "DSB histology" and not without:
            continue  # no model left it out: its images are in the H&E validation rows
        unseen: dict = {}
        for path in without:
            for name, fn in left_out_methods(path).items():  # same names: tell by folder
                unseen[f"{name} ({Path(path).name})" if name in unseen else name] = fn
        for name, fn in {**unseen, **methods}.items():
            print(row(f"{source} (left out)" if name in unseen else source, name,
                      *score(fn, items[:args.max_images])), flush=True)
    he = lab(segmenter(model=args.he))
    for source, items in validation_items(args.he).items():
        for name, fn in {"H&E model": he, **methods}.items():
            print(row(f"{source} (validation)", name, *score(fn, items[:args.max_images])),
                  flush=True)


if __name__ == "__main__":
    main()
