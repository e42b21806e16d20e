"""Batch runs on a Dask cluster: a local one (``--workers N``) or an existing one
(``--scheduler ADDRESS``). Each image is one task; each worker process loads the model once
(:func:`cellseg.pipeline.cached_segmenter`) and writes its outputs straight into the output
folder, which every worker must be able to reach (a shared file system on a real cluster)."""
from __future__ import annotations

import os


def make_client(workers: int | None = None, scheduler: str | None = None):
    """A ``dask.distributed.Client``: connected to ``scheduler``, or to a new local cluster of
    ``workers`` processes with one thread each and the CPU cores shared out between them."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise RuntimeError("Dask is not installed: pip install 'dask[distributed]'") from exc
    if scheduler:
        return Client(scheduler)
    n = max(1, int(workers or 1))
    threads = str(max(1, (os.cpu_count() or 1) // n))
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           dashboard_address=None,
                           env={"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads})
    return Client(cluster)
