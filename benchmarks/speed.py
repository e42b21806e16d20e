"""CPU (and GPU, when present) throughput of training and inference.

    python benchmarks/speed.py [--threads 2] [--quick]

Prints: training crops/s (256x256, batch 8) for base widths 16 and 32, contiguous vs
channels_last; the crop pipeline's own crops/s (augmentation + targets); inference
megapixels/s on a 1024x1024 image for PyTorch contiguous, channels_last and ONNX Runtime;
and the time of the default model + instance step on a 1024x1024 sample image.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    os.environ.setdefault("CELLSEG_CACHE", tempfile.mkdtemp())
    from cellseg.core.tiling import sliding_window
    from cellseg.io.images import read_image
    from cellseg.model import TrainedModel, load_model
    from cellseg.model.unet import UNetConfig
    from cellseg.training.data import CropDataset
    from cellseg.training.losses import get_loss, segmentation_loss

    rep = 2 if args.quick else 5
    print(f"torch {torch.__version__}, {args.threads} threads, CUDA: {torch.cuda.is_available()}")
    x = torch.rand(8, 1, 256, 256)
    y = (torch.rand(8, 2, 256, 256) > 0.5).float()
    loss_fn = get_loss("bce_dice")
    print("\ntraining step, batch 8 of 256x256 crops")
    for width in (16, 32):
        for layout in ("contiguous", "channels_last"):
            model = TrainedModel.new(UNetConfig(width=width))
            net = model.net.train()
            xb = x
            if layout == "channels_last":
                net = net.to(memory_format=torch.channels_last)
                xb = x.contiguous(memory_format=torch.channels_last)
            opt = torch.optim.AdamW(net.parameters(), 1e-3)

            def step():
                loss = segmentation_loss(net(xb), y, loss_fn)
                opt.zero_grad()
                loss.backward()
                opt.step()
            s = timed(step, rep)
            print(f"  width {width:2d}  {layout:<14} {s:6.2f} s/step  {8 / s:6.1f} crops/s")

    image = read_image(ROOT / "samples/images/brightfield_091944f1.png")  # 1024 x 1024
    labels = np.zeros(image.shape[:2], np.int32)
    ds = CropDataset([np.random.rand(1024, 1024).astype(np.float32)], [labels], patch_size=256,
                     samples_per_epoch=64)
    t0 = time.perf_counter()
    for i in range(64):
        ds[i]
    print(f"\ncrop pipeline (augment + targets), one process: {64 / (time.perf_counter() - t0):.0f} crops/s")

    print("\ninference on a 1024x1024 image, probabilities only; tiles of 512 (9 overlapping) "
          "or the whole image (1024, the default)")
    for width, tile in ((16, 512), (16, 1024), (32, 1024)):
        model = TrainedModel.new(UNetConfig(width=width))
        model.net.eval()
        prepared = model.prepare(image)
        for backend in ("torch-contiguous", "torch-channels_last", "onnx"):
            if backend == "torch-contiguous":
                net = model.net.to(memory_format=torch.contiguous_format)

                def predictor(t, net=net):
                    with torch.inference_mode():
                        return torch.sigmoid(net(torch.from_numpy(t))).numpy()
            else:
                predictor = model.tile_predictor("torch" if backend.startswith("torch") else "onnx")
            s = timed(lambda: sliding_window(prepared, predictor, out_channels=2, tile=tile), rep)
            print(f"  width {width:2d}  tile {tile:4d}  {backend:<20} {s:6.2f} s  "
                  f"{1.048576 / s:6.2f} MP/s")

    try:
        model = load_model("nuclei")
    except Exception as exc:
        print(f"\nno bundled nuclei model ({exc})")
        return
    for backend in ("torch", "onnx"):
        model.backend = backend
        s = timed(lambda: model.segment(image), rep)
        print(f"\ndefault nuclei model + instance step, 1024x1024 image, {backend}: {s:.2f} s")
    if torch.cuda.is_available():
        model.to("cuda")
        s = timed(lambda: model.segment(image), rep)
        print(f"default nuclei model + instance step, 1024x1024 image, CUDA: {s:.3f} s")


if __name__ == "__main__":
    main()
