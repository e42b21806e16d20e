"""Huge images, block by block: the same objects as whole-image segmentation, none cut or doubled."""
import numpy as np
import tifffile
from conftest import discs
from scipy import ndimage as ndi

from cellseg.core.metrics import evaluate
from cellseg.jobs.segment_huge import (
    blocks,
    open_lazy,
    segment_blocks,
    subsample,
    write_tiled_tiff,
)


def random_nuclei(shape=(700, 900), n=160, seed=0):
    rng = np.random.default_rng(seed)
    centres = [tuple(rng.integers(0, s) for s in shape) for _ in range(n)]
    return discs(shape, centres=centres, radius=11)


def threshold_labels(image):
    """A purely local segmenter: the same answer for a pixel whatever the crop around it."""
    labels, _ = ndi.label(image > 100)
    return labels


def test_blocks_reproduce_whole_image_exactly(tmp_path):
    truth = random_nuclei()
    image = (20 + 180 * (truth > 0)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "big.tif", image, tile=(128, 128), compression="zlib")
    array = open_lazy(tmp_path / "big.tif")
    assert array.shape == image.shape
    n, _ = segment_blocks(array, threshold_labels, tmp_path / "labels.zarr", block=200, margin=40)
    import zarr
    stitched = np.asarray(zarr.open(str(tmp_path / "labels.zarr"), mode="r")[:])
    whole = threshold_labels(image)
    assert n == whole.max()
    s = evaluate(whole, stitched)
    assert s["dsb_score"] == 1.0 and s["pixel_iou"] == 1.0
    # objects really crossed block edges
    edges = np.zeros(image.shape, bool)
    edges[200::200, :] = True
    edges[:, 200::200] = True
    assert len(np.unique(whole[edges])) > 10


def test_margin_too_small_is_visible(tmp_path):
    """With a margin smaller than the objects, edge objects are cut: the check above is real."""
    truth = random_nuclei()
    image = (20 + 180 * (truth > 0)).astype(np.uint8)
    n, _ = segment_blocks(image, threshold_labels, tmp_path / "l.zarr", block=200, margin=2)
    import zarr
    stitched = np.asarray(zarr.open(str(tmp_path / "l.zarr"), mode="r")[:])
    assert evaluate(threshold_labels(image), stitched)["dsb_score"] < 0.99


def test_tiled_tiff_output_and_subsample(tmp_path):
    labels = random_nuclei((300, 410))
    write_tiled_tiff(labels, tmp_path / "l.tif", tile=128)
    with tifffile.TiffFile(tmp_path / "l.tif") as tif:
        assert tif.pages[0].is_tiled and tif.is_bigtiff
        assert np.array_equal(tif.asarray(), labels)
    assert subsample(labels, max_pixels=10_000).size <= 12_000
    assert len(blocks((300, 410), 128)) == 3 * 4


def test_real_model_blocks_agree_with_whole_image(tmp_path):
    """The bundled model on a real 1100 x 1100 nuclei mosaic: block-by-block (blocks of 512,
    so many nuclei cross block edges) finds the same nuclei as one whole-image pass."""
    from conftest import SAMPLES

    from cellseg.core.preprocess import to_gray
    from cellseg.io.images import read_image
    from cellseg.jobs.segment_huge import segment_large
    from cellseg.model.store import load_model
    tile = to_gray(read_image(SAMPLES / "images" / "fluorescence_0287e7ee.png")).astype(np.uint8)
    image = np.tile(tile, (1 + 1100 // tile.shape[0], 1 + 1100 // tile.shape[1]))[:1100, :1100]
    tifffile.imwrite(tmp_path / "scan.tif", image)
    model = load_model("nuclei")
    res = segment_large(tmp_path / "scan.tif", tmp_path / "out", model, block=512, quiet=True)
    stitched = tifffile.imread(res["labels"]).astype(np.int32)
    whole = model.segment(image)
    s = evaluate(whole, stitched)
    assert whole.max() > 200
    assert s["f1_50"] >= 0.98 and s["pixel_iou"] >= 0.98, s  # measured 0.987 and 0.990


def _mosaic(size=600):
    from conftest import SAMPLES

    from cellseg.core.preprocess import to_gray
    from cellseg.io.images import read_image
    tile = to_gray(read_image(SAMPLES / "images" / "fluorescence_0287e7ee.png")).astype(np.uint8)
    return np.tile(tile, (1 + size // tile.shape[0], 1 + size // tile.shape[1]))[:size, :size]


def test_huge_images_honour_or_refuse_every_segment_option(tmp_path):
    """In a batch, images over ``large_pixels`` go block by block: --channel is honoured,
    --save-probs refused in one line, two huge x.tif from different folders do not collide,
    and no scratch .zarr is left behind."""
    from cellseg.jobs.segment_batch import run_segment
    image = _mosaic()
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    # nuclei in channel 1 of 2 (channel 0 blank); b holds the same nuclei mirrored
    blank = np.zeros_like(image)
    for folder, nuclei in (("a", image), ("b", image[:, ::-1])):
        tifffile.imwrite(tmp_path / folder / "x.tif", np.stack([blank, nuclei], -1),
                         photometric="minisblack", planarconfig="contig")
    out = tmp_path / "out"
    opts = dict(quiet=True, block=256, large_pixels=100_000, log=lambda m: None)
    result = run_segment([tmp_path / "a" / "x.tif", tmp_path / "b" / "x.tif"], out,
                         channel=1, **opts)
    assert not result.failed and sorted(result.done) == ["a_x", "b_x"]
    a = tifffile.imread(out / "a_x_labels.tif")
    b = tifffile.imread(out / "b_x_labels.tif")
    tifffile.imwrite(tmp_path / "gray.tif", image)
    run_segment([tmp_path / "gray.tif"], tmp_path / "gray", **opts)
    assert a.max() > 50 and np.array_equal(a, tifffile.imread(tmp_path / "gray" /
                                                               "gray_labels.tif"))
    assert not np.array_equal(a, b) and abs(int(a.max()) - int(b.max())) < 0.05 * a.max()
    assert not list(out.rglob("*.zarr")) and not list(out.glob(".*"))[1:]  # only .cellseg
    probs = run_segment([tmp_path / "b" / "x.tif"], tmp_path / "p", save_probs=True, channel=1,
                        **opts)
    (path, why), = probs.failed
    assert "--save-probs" in why and "\n" not in why


def test_huge_image_with_tta_and_kept_zarr(tmp_path):
    from cellseg.jobs.segment_huge import segment_large
    tifffile.imwrite(tmp_path / "scan.tif", _mosaic(400))
    plain = segment_large(tmp_path / "scan.tif", tmp_path / "o1", "nuclei", block=256,
                          quiet=True)
    tta = segment_large(tmp_path / "scan.tif", tmp_path / "o2", "nuclei", block=256, quiet=True,
                        tta=True, keep_zarr=True)
    a, b = tifffile.imread(plain["labels"]), tifffile.imread(tta["labels"])
    assert not np.array_equal(a, b)  # TTA reached the blocks
    assert evaluate(a.astype(np.int32), b.astype(np.int32))["f1_50"] > 0.9
    assert (tmp_path / "o2" / "scan_labels.zarr").is_dir()
    assert not list((tmp_path / "o1").glob("*.zarr")) and not list((tmp_path / "o1").glob(".*"))


def test_huge_image_as_an_ome_zarr_pyramid(tmp_path):
    """`segment --ome-zarr` on a huge image: an NGFF 0.4 multiscale pyramid whose level 0 is
    the label TIFF, each level half the last (every second pixel), scales in µm."""
    import json

    import zarr

    from cellseg.jobs.segment_batch import run_segment
    tifffile.imwrite(tmp_path / "scan.tif", _mosaic(1100), ome=True,
                     metadata={"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
    assert run_segment([tmp_path / "scan.tif"], tmp_path / "out", method="unet", model="nuclei",
                       block=512, large_pixels=1_000_000, ome_zarr=True, quiet=True).ok
    labels = tifffile.imread(tmp_path / "out" / "scan_labels.tif")
    root = zarr.open_group(str(tmp_path / "out" / "scan_labels.ome.zarr"), mode="r")
    meta = json.loads((tmp_path / "out" / "scan_labels.ome.zarr" / ".zattrs").read_text())
    (ms,) = meta["multiscales"]
    assert ms["version"] == "0.4" and [a["unit"] for a in ms["axes"]] == ["micrometer"] * 2
    assert [d["coordinateTransformations"][0]["scale"] for d in ms["datasets"]] == [
        [0.5, 0.5], [1.0, 1.0]]
    assert np.array_equal(root["0"][:], labels) and labels.max() > 50
    assert np.array_equal(root["1"][:], labels[::2, ::2]) and root["1"].shape == (550, 550)
