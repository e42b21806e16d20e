"""Seconds per image of the bundled default models, model + instance step, by backend.

    python benchmarks/speed_models.py [--threads 2] [--repeat 3]

The nuclei model on a 1024 x 1024 gray fluorescence mosaic, the H&E model on a 1000 x 1000
MoNuSeg image and the cells model on a 1024 x 1022 phase-contrast frame (Usiigaci set 41), each
at its native size (``diameter=None``, one pass): ONNX Runtime (the CPU default), PyTorch
float32, and PyTorch under ``torch.autocast("cpu", bfloat16)``; the cells frame also as
`cellseg segment`/`track` run it by default (``diameter="auto"``: a measuring pass, and a
second pass when the cells are far from the model's size).
Also, for base widths 16, 24 and 32 (random weights: the cost is the same), the network
alone on a 1024 x 1024 image (ONNX Runtime float32, PyTorch float32 and bfloat16) and its
training step (batch 8 of 192 x 192 crops) in float32 and bfloat16, which decide whether a
config sets ``bf16: true`` and how wide a network the speed targets allow on this CPU (the
CPU's bfloat16 instructions are printed first: AMX makes bfloat16 much faster).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def best_of(fn, repeat: int) -> float:
    fn()  # warm-up (ONNX export, allocations)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def image_kind(model) -> str:
    """Which bundled model's test image a model folder is timed on: the phase-contrast frame
    for a model trained on Usiigaci, else by its input (gray or stained tissue)."""
    if any("usiigaci" in str(d) for d in model.card.get("training", {}).get("data", [])):
        return "cells"
    return "nuclei" if model.channel == "gray" else "he"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=["nuclei", "he", "cells"],
                    help="bundled names or model folders")
    ap.add_argument("--no-training", action="store_true",
                    help="skip the per-width network and training-step figures")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from cellseg.core.preprocess import to_gray
    from cellseg.io.images import read_image
    from cellseg.model import load_model
    from cellseg.training.hardware import cpu_info
    tile = to_gray(read_image(ROOT / "samples/images/fluorescence_0287e7ee.png")).astype(np.uint8)
    gray = np.tile(tile, (4, 4))[:1024, :1024]
    he_image = read_image(sorted((ROOT.parent / "shared/data/he/monuseg_train/images")
                                 .glob("*.jpg"))[0])
    phase = read_image(ROOT.parent / "shared/data/usiigaci/set41/raw.tif")
    images = {"nuclei": gray, "he": he_image, "cells": phase}
    cpu, flags = cpu_info()
    print(f"{cpu}; bfloat16 instructions: {', '.join(flags) or 'none'}")
    print(f"torch {torch.__version__}, {args.threads} threads; best of {args.repeat}")
    for name in args.models:
        model = load_model(name)
        kind = name if name in images else image_kind(model)
        image = images[kind]
        label = f"{name} model + instance step, {image.shape[1]}x{image.shape[0]}"
        for backend in ("onnx", "torch"):
            s = best_of(lambda: model.segment(image, diameter=None, backend=backend), args.repeat)
            print(f"{label}, {backend + ' float32':<16} {s:6.2f} s")
        s = best_of(lambda: model.segment(image, diameter=None, backend="bf16"), args.repeat)
        print(f"{label}, {'torch bfloat16':<16} {s:6.2f} s")
        if kind == "cells":
            s = best_of(lambda: model.segment(image, diameter="auto"), args.repeat)
            print(f"{label}, {'default (auto)':<16} {s:6.2f} s")
    if args.no_training:
        return
    from cellseg.model.onnx import onnx_predictor
    from cellseg.model.unet import UNet, UNetConfig
    image = torch.rand(1, 1, 1024, 1024).contiguous(memory_format=torch.channels_last)
    x = torch.rand(8, 1, 192, 192).contiguous(memory_format=torch.channels_last)
    y = (torch.rand(8, 2, 192, 192) > 0.5).float()
    for width in (16, 24, 32):
        net = UNet(UNetConfig(width=width, depth=4)).to(memory_format=torch.channels_last)
        net.eval()
        onnx = onnx_predictor(net)
        s = best_of(lambda: onnx(image.numpy()), args.repeat)
        print(f"network alone, width {width}, 1024x1024, {'onnx float32':<16} {s:6.2f} s")
        for bf16 in (False, True):
            def infer():
                with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                            enabled=bf16):
                    net(image)
            s = best_of(infer, args.repeat)
            kind = "torch bfloat16" if bf16 else "torch float32"
            print(f"network alone, width {width}, 1024x1024, {kind:<16} {s:6.2f} s")
        net.train()
        opt = torch.optim.AdamW(net.parameters(), 1e-3)
        for bf16 in (False, True):
            def step():
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    out = net(x)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(out.float(), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
            s = best_of(step, args.repeat)
            print(f"training step, width {width}, 8 x 192^2, "
                  f"{'bfloat16' if bf16 else 'float32':<9} {s:6.2f} s ({8 / s:.1f} crops/s)")


if __name__ == "__main__":
    main()
