"""On a CUDA GPU: the same labels as on the CPU, and how fast.

    python benchmarks/gpu_agreement.py [--pair IMAGE MASK MODEL]... [--threads 2]

Segments the bundled samples (``samples/images`` with ``samples/masks``, the model chosen per
image as ``cellseg segment`` chooses it) and any ``--pair`` given (an image, its label mask and
the model to force, e.g. a Usiigaci frame with ``cells``) twice: in a child process that sees
no GPU (ONNX Runtime float32 on ``--threads`` CPU threads, the CPU default) and in this process
(PyTorch on CUDA under float16 autocast, the GPU default). Prints per image the object
counts (truth, CPU, GPU), F1@0.5 of the GPU's objects against the CPU's, the DSB2018 score of
each against the truth and seconds per image (best of ``--repeat`` after a warm-up, model +
instance step). Without a GPU it says so and stops.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def items(pairs: list[list[str]]) -> list[tuple[Path, Path, str | None]]:
    """(image, mask, forced model or None) for the samples and the ``--pair`` arguments."""
    out = [(p, ROOT / "samples/masks" / f"{p.stem}.tif", None)
           for p in sorted((ROOT / "samples/images").glob("*.png"))]
    return out + [(Path(i), Path(m), model) for i, m, model in pairs]


def run(pairs, repeat: int, save: Path) -> dict:
    """Segment every item here; labels to ``save`` (npz), returns {stem: [model, seconds]}."""
    from cellseg.io.images import read_image
    from cellseg.segmenter import make_segmenter
    labels, info = {}, {}
    for image_path, _, model in items(pairs):
        image = read_image(image_path)
        seg = make_segmenter(model=model)
        result = seg(image)  # warm-up: model load, ONNX export, CUDA kernels
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = seg(image)
            times.append(time.perf_counter() - t0)
        labels[image_path.stem] = result.labels
        info[image_path.stem] = [str(result.model), min(times)]
    np.savez_compressed(save, **labels)
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", nargs=3, action="append", default=[],
                    metavar=("IMAGE", "MASK", "MODEL"))
    ap.add_argument("--threads", type=int, default=2, help="CPU threads of the CPU run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cpu-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cpu_child:  # the CPU run, started below with no GPU visible
        import torch
        torch.set_num_threads(args.threads)
        info = run(args.pair, args.repeat, Path(args.cpu_child + ".npz"))
        Path(args.cpu_child + ".json").write_text(json.dumps(info))
        return
    import torch
    if not torch.cuda.is_available():
        print("no CUDA GPU here: nothing to compare")
        return
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"gpu_agreement_{os.getpid()}"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, __file__, "--cpu-child", str(tmp), "--threads", str(args.threads),
           "--repeat", str(args.repeat)] + [a for p in args.pair for a in ["--pair", *p]]
    subprocess.run(cmd, env=env, check=True)
    cpu_info = json.loads(Path(f"{tmp}.json").read_text())
    cpu = np.load(f"{tmp}.npz")
    gpu_info = run(args.pair, args.repeat, Path(f"{tmp}_gpu.npz"))
    gpu = np.load(f"{tmp}_gpu.npz")

    from cellseg.core.metrics import image_scores, summarize
    from cellseg.io.images import read_image
    print(f"# GPU: {torch.cuda.get_device_name(0)} (PyTorch float16 autocast); CPU: ONNX Runtime "
          f"float32, {args.threads} threads")
    print(f"{'image':<32}{'model':<10}{'true':>6}{'CPU':>6}{'GPU':>6}{'F1 GPU/CPU':>12}"
          f"{'DSB CPU':>9}{'DSB GPU':>9}{'s CPU':>8}{'s GPU':>8}")
    for image_path, mask_path, _ in items(args.pair):
        stem = image_path.stem
        truth = read_image(mask_path).astype(np.int64)
        a, b = cpu[stem], gpu[stem]
        agree = summarize([image_scores(a, b)])["f1_50"]
        print(f"{stem[:31]:<32}{Path(gpu_info[stem][0]).name[:9]:<10}{len(np.unique(truth)) - 1:>6}"
              f"{len(np.unique(a)) - 1:>6}{len(np.unique(b)) - 1:>6}{agree:>12.3f}"
              f"{image_scores(truth, a)['dsb_score']:>9.3f}{image_scores(truth, b)['dsb_score']:>9.3f}"
              f"{cpu_info[stem][1]:>8.2f}{gpu_info[stem][1]:>8.3f}")
    for suffix in (".npz", ".json", "_gpu.npz"):  # the two runs' labels and timings
        Path(f"{tmp}{suffix}").unlink()


if __name__ == "__main__":
    main()
