"""A real local Dask cluster (several worker processes) gives the same results as one process."""
import numpy as np
import pandas as pd
import tifffile
from conftest import SAMPLES

from cellseg.jobs.segment_batch import run_segment


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


def test_huge_image_blocks_spread_over_workers(tmp_path):
    """A huge TIFF inside a Dask run: its blocks run on several workers, and the labels and
    measurements equal those of a single-process run."""
    from dask.distributed import get_task_stream

    from cellseg.distributed import make_client
    from cellseg.io.images import read_image
    tile = read_image(SAMPLES / "images" / "fluorescence_0287e7ee.png")
    tile = tile[..., 0] if tile.ndim == 3 else tile
    image = np.tile(tile, (1 + 1100 // tile.shape[0], 1 + 1100 // tile.shape[1]))[:1100, :1100]
    src = tmp_path / "in" / "scan.tif"
    src.parent.mkdir()
    tifffile.imwrite(src, image)
    options = dict(quiet=True, block=512, large_pixels=1_000_000)
    run_segment([src], tmp_path / "single", **options)
    client = make_client(workers=2)
    try:
        with get_task_stream(client) as stream:
            result = run_segment([src], tmp_path / "dask", client=client, **options)
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    assert result.ok
    block_workers = {t["worker"] for t in stream.data if "block_task" in t["key"]}
    assert len(block_workers) == 2  # 9 blocks, both workers took some
    single = tifffile.imread(tmp_path / "single" / "scan_labels.tif")
    assert single.max() > 100
    assert np.array_equal(single, tifffile.imread(tmp_path / "dask" / "scan_labels.tif"))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "single" / "measurements.csv"),
                                  pd.read_csv(tmp_path / "dask" / "measurements.csv"))
