"""Variants of the steps between a model's maps and its labels, on the gray nuclei sources:
how ``--diameter auto`` sizes an image, and how flow sinks are found.

    python benchmarks/instance_variants.py [--model nuclei] [--max-images N]

Rows (all with the model's own thresholds):

- ``auto`` with the defaults (:data:`cellseg.core.rescale.TOLERANCE` 1.75: no resizing while
  the measured objects are within 1.75x of the model's size; ``REFINE_TOLERANCE`` 1.25: one
  more pass while a new measure is over 1.25x off the size of the last pass);
- ``tolerance T``: resize whenever objects are more than T x off the model's size;
- ``refine R``: one more pass (at most 3) while the new measure is over R x off;
- ``true size``: resized by the annotated objects' size (what a perfect measure would give);
- ``sinks split``: each flow sink split at peaks of the end-point count at least 5 (or 3)
  pixels apart, each peak with at least ``min_size`` end points (are two nuclei's sinks
  merged by the instance step, or do their flows meet?);
- ``h-maxima H``: h-maxima seeds of height H instead of the model's (higher: fewer seeds, so
  fewer nuclei split and more touching ones merged);
- ``flows``: the flow sinks with the thresholds the model's validation chose for them (the
  card's ``instances_by_method``).

``--only TEXT`` keeps the rows whose variant name starts with TEXT.

Sources: the gray ones of :mod:`generalization` (the DSB2018 512x640 experiment, SIM+,
SIM+ with noise) and the model's validation images.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from unittest.mock import patch

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generalization import gray_sources, validation_items  # noqa: E402

import cellseg.model.trained as trained  # noqa: E402
from cellseg.core import instances, rescale  # noqa: E402
from cellseg.core.metrics import image_scores, summarize  # noqa: E402
from cellseg.model.store import load_model  # noqa: E402


def split_sinks(min_distance: int):
    """A :func:`cellseg.core.instances.flow_seeds` whose sinks are split at separate peaks
    (``min_distance`` pixels apart) of the smoothed end-point count."""
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    def flow_seeds(flows, mask, min_size):
        end, density = instances.end_density(flows, mask)
        sinks, _ = ndi.label(density >= max(min_size, 2))
        peaks = peak_local_max(density, min_distance=min_distance, labels=sinks,
                               threshold_abs=max(min_size, 2), exclude_border=False)
        markers = np.zeros(mask.shape, np.int32)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        split = watershed(-density, markers, mask=sinks > 0)
        seeds = np.zeros(mask.shape, np.int32)
        seeds[mask] = split[end[0], end[1]]
        return seeds
    return flow_seeds


def variants(model) -> dict:
    """name -> callable (image, truth) -> labels."""
    def auto(image, truth):
        return model.labels_and_probs(image, diameter="auto")[0]

    def with_setting(obj, name, value):
        def run(image, truth):
            with patch.object(obj, name, value):
                return auto(image, truth)
        return run

    def with_instances(params):
        other = model.with_instances(params)

        def run(image, truth):
            return other.labels_and_probs(image, diameter="auto")[0]
        return run

    def true_size(image, truth):
        with patch.object(rescale, "TOLERANCE", 1.0):
            return model.labels_and_probs(
                image, diameter=rescale.object_diameter(truth) or model.object_diameter)[0]

    out = {"auto (defaults)": auto}
    for t in (1.4, 1.2):
        out[f"tolerance {t}"] = with_setting(rescale, "TOLERANCE", t)
    for r in (1.1, 1.0):
        out[f"refine {r}"] = with_setting(trained, "REFINE_TOLERANCE", r)
    out["true size"] = true_size
    for d in (5, 3):
        out[f"sinks split {d} px"] = with_setting(instances, "flow_seeds", split_sinks(d))
    other_seeds = {f"h-maxima {h}": {**model.card["instances"], "method": "maxima", "h_max": h}
                   for h in (0.15, 0.25, 0.4)}
    if "flows" in model.card.get("instances_by_method", {}):
        other_seeds["flows"] = model.card["instances_by_method"]["flows"]
    for name, params in other_seeds.items():
        out[name] = with_instances(params)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="nuclei", help="bundled name or model folder")
    ap.add_argument("--max-images", type=int, default=None)
    ap.add_argument("--only", default="", help="rows whose variant name starts with this")
    args = ap.parse_args()
    model = load_model(args.model)
    sources = {name: pairs for name, (_, _, pairs) in gray_sources(args.max_images).items()}
    sources.pop("CTC GOWT1 01, SEG")
    sources.update({f"{k} (validation)": v[:args.max_images]
                    for k, v in validation_items(args.model).items()})
    print(f"model {args.model}: instance-step variants")
    print(f"{'source':<32}{'variant':<22}{'imgs':>5}{'DSB':>7}{'AP50':>7}{'F1@50':>7}{'PQ':>7}"
          f"{'SEG':>7}{'pred/true':>10}{'s/img':>7}")
    for source, items in sources.items():
        for name, fn in variants(model).items():
            if not name.startswith(args.only):
                continue
            scores, seconds = [], 0.0
            for image, truth in items:
                t0 = time.perf_counter()
                labels = fn(image, truth)
                seconds += time.perf_counter() - t0
                scores.append(image_scores(truth, labels))
            s = summarize(scores)
            print(f"{source:<32}{name:<22}{s['images']:>5}{s['dsb_score']:>7.3f}{s['ap50']:>7.3f}"
                  f"{s['f1_50']:>7.3f}{s['pq']:>7.3f}{s['seg']:>7.3f}"
                  f"{s['n_pred'] / max(1, s['n_true']):>10.2f}{seconds / max(1, len(items)):>7.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
