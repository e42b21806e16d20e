"""Batch runs on a Dask cluster: a local one (``--workers N``) or an existing one
(``--scheduler ADDRESS``). Each image is one task; each worker process loads the model once
(:func:`cellseg.model.cached_model`) and writes its outputs straight into the output
folder, which every worker must be able to reach (a shared file system on a real cluster)."""
from __future__ import annotations

import os
from collections import deque
from contextlib import contextmanager
from itertools import islice
from typing import Callable, Iterator


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


@contextmanager
def client_in_task():
    """Inside a Dask task: a client through which the task submits more tasks (it gives up its
    worker thread while it waits for them). Anywhere else: None."""
    try:
        from dask.distributed import get_worker, worker_client
        get_worker()
    except (ImportError, ValueError):
        yield None
        return
    with worker_client() as client:
        yield client


def map_in_order(client, fn: Callable, items: list, window: int | None = None) -> Iterator:
    """``fn(item)`` for each item on the cluster, yielded in the items' order. At most
    ``window`` tasks (default: twice the cluster's threads) are submitted ahead of the one
    being waited for, so finished results never pile up in memory."""
    window = window or max(2, 2 * sum(client.nthreads().values()))
    todo = iter(items)
    pending = deque(client.submit(fn, item, pure=False) for item in islice(todo, window))
    while pending:
        result = pending.popleft().result()
        for item in islice(todo, 1):
            pending.append(client.submit(fn, item, pure=False))
        yield result
