"""A real local Dask cluster (several worker processes) gives the same results as one process."""
import numpy as np
import pandas as pd
import pytest
import tifffile

from cellseg.pipeline import run_segment
from conftest import SAMPLES


def test_dask_cluster_equals_single_process(tmp_path):
    from cellseg.distributed import make_client
    single = tmp_path / "single"
    run_segment([SAMPLES / "images"], single, method="otsu", quiet=True)
    client = make_client(workers=2)
    try:
        assert len(client.scheduler_info()["workers"]) == 2
        result = run_segment([SAMPLES / "images"], tmp_path / "dask", method="otsu", quiet=True,
                             client=client)
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    assert result.ok and len(result.done) == 4
    for f in sorted(single.glob("*_labels.tif")):
        assert np.array_equal(tifffile.imread(f), tifffile.imread(tmp_path / "dask" / f.name))
    pd.testing.assert_frame_equal(pd.read_csv(single / "measurements.csv"),
                                  pd.read_csv(tmp_path / "dask" / "measurements.csv"))
