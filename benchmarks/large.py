"""A huge image segmented block by block: time, objects and peak memory.

    python benchmarks/large.py [--size 20000] [--block 2048] [--workers N]

Builds a SIZE x SIZE tiled BigTIFF by tiling the bundled fluorescence sample (written tile by
tile, never held whole), segments it with the default nuclei model through
``cellseg segment``'s block path, and prints seconds, megapixels/s, objects found and the
peak resident memory of the process (which also holds Python, torch and the model). With
``--workers N`` the blocks are segmented by a local Dask cluster of N processes (the CPU threads
shared out between them) and the peak memory of each worker is printed too.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from cellseg.core.preprocess import to_gray
from cellseg.io.images import read_image
from cellseg.jobs.segment_huge import segment_large
from cellseg.model.store import load_model

ROOT = Path(__file__).resolve().parents[1]


def write_mosaic(path: Path, size: int, tile: int = 512) -> None:
    src = to_gray(read_image(ROOT / "samples/images/fluorescence-large_07fb37aa.png")).astype(np.uint8)
    h, w = src.shape

    def tiles():
        for y in range(0, size, tile):
            for x in range(0, size, tile):
                yy = (np.arange(y, y + tile) % h)[:, None]
                xx = (np.arange(x, x + tile) % w)[None, :]
                yield src[yy, xx]
    tifffile.imwrite(path, tiles(), shape=(size, size), dtype=np.uint8, tile=(tile, tile),
                     compression="zlib", bigtiff=True)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--block", type=int, default=2048)
    ap.add_argument("--workers", type=int, default=0, help="Dask workers (0: this process)")
    args = ap.parse_args()
    client = None
    if args.workers:
        from cellseg.distributed import make_client
        client = make_client(args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "huge.tif"
        write_mosaic(src, args.size)
        model = load_model("nuclei")
        before = peak_mb()
        t0 = time.perf_counter()
        res = segment_large(src, Path(tmp) / "out", "nuclei" if client else model,
                            block=args.block, quiet=True, client=client)
        s = time.perf_counter() - t0
        mp = args.size**2 / 1e6
        where = f"{args.workers} Dask workers" if client else "one process"
        print(f"{args.size}x{args.size} ({mp:.0f} MP, {src.stat().st_size / 1e6:.0f} MB tiled "
              f"TIFF), blocks of {args.block}, {where}: {s:.0f} s, {mp / s:.2f} MP/s, "
              f"{res['objects']} objects")
        if client:
            workers = client.run(peak_mb)
            print("peak resident memory of each worker: "
                  + ", ".join(f"{v:.0f} MB" for v in workers.values()))
            client.close()
        print(f"peak resident memory: {peak_mb():.0f} MB (after loading the model: {before:.0f} MB); "
              f"the image alone would take {args.size**2 / 1e6:.0f} MB as uint8 and "
              f"{args.size**2 * 8 / 1e6:.0f} MB as float32 (2 output channels)")


if __name__ == "__main__":
    main()
