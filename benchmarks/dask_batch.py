"""Batch segmentation throughput: one process vs a local Dask cluster of 1 and 2 workers.

    python benchmarks/dask_batch.py [--images 24]

Segments the first N DSB2018 stage-1 images with the default nuclei model into a temporary
folder, and prints images/s for each set-up (the CPU threads are shared out between workers).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cellseg.distributed import make_client
from cellseg.jobs.segment_batch import run_segment

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/dsb2018/stage1_train"))
    args = ap.parse_args()
    files = sorted(Path(args.data).glob("*/images/*.png"))[: args.images]
    print(f"{len(files)} DSB2018 images, default nuclei model")
    for workers in (0, 1, 2):
        client = make_client(workers) if workers else None
        try:
            if client is not None:  # warm the workers: each loads the model once
                run_segment(files[:workers], tempfile.mkdtemp(), quiet=True, client=client)
            with tempfile.TemporaryDirectory() as out:
                t0 = time.perf_counter()
                res = run_segment(files, out, quiet=True, client=client)
                s = time.perf_counter() - t0
        finally:
            if client is not None:
                cluster = client.cluster
                client.close()
                cluster.close()
        name = "one process" if not workers else f"Dask, {workers} worker{'s' * (workers > 1)}"
        print(f"{name:<18} {len(res.done)} images in {s:6.1f} s: {len(res.done) / s:5.2f} images/s")


if __name__ == "__main__":
    main()
