import json

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from conftest import discs, shared

from cellseg.errors import InputError
from cellseg.io.datasets import (
    as_labels,
    detect_layout,
    dsb_image_type,
    merge_masks,
    open_dataset,
    read_coco,
    read_ctc,
    read_dsb,
    read_paired,
    read_usiigaci,
    unoutlined_objects,
)


def test_merge_masks_overlap_goes_to_first_mask():
    a = np.zeros((5, 5), np.uint8); a[1:4, 1:4] = 255
    b = np.zeros((5, 5), np.uint8); b[2:5, 2:5] = 255
    labels = merge_masks([a, b])
    assert labels[2, 2] == 1 and labels[4, 4] == 2 and labels[1, 1] == 1
    assert np.array_equal(merge_masks([a, b]), labels)


def test_binary_mask_becomes_components_label_image_kept():
    binary = (discs() > 0).astype(np.uint8) * 255
    assert as_labels(binary).max() == 2
    lab = discs()
    lab[lab == 2] = 7
    assert set(np.unique(as_labels(lab))) == {0, 1, 7}


def make_dsb(root, n=2):
    for k in range(n):
        d = root / f"img{k}"
        (d / "images").mkdir(parents=True)
        (d / "masks").mkdir()
        image = np.zeros((64, 64, 4), np.uint8)
        image[..., 3] = 255
        lab = discs()
        image[..., :3] = (lab > 0)[..., None] * 180
        iio.imwrite(d / "images" / f"img{k}.png", image)
        for i in (1, 2):
            iio.imwrite(d / "masks" / f"m{i}.png", ((lab == i) * 255).astype(np.uint8))


def test_dsb_fixture(tmp_path):
    make_dsb(tmp_path)
    assert detect_layout(tmp_path) == "dsb"
    items = read_dsb(tmp_path)
    image, labels = items[0].load()
    assert image.shape == (64, 64, 3)  # empty alpha dropped
    assert labels.max() == 2 and np.array_equal(labels > 0, discs() > 0)


def test_dsb_mask_of_other_size_is_reported(tmp_path):
    make_dsb(tmp_path, 1)
    iio.imwrite(tmp_path / "img0" / "masks" / "bad.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(InputError, match=r"bad\.png: mask size 10x10 differs from image size 64x64"):
        read_dsb(tmp_path)[0].load()


def test_paired_fixture_binary_and_label_masks(tmp_path):
    (tmp_path / "images").mkdir(); (tmp_path / "masks").mkdir()
    img = (discs() > 0).astype(np.uint8) * 200
    iio.imwrite(tmp_path / "images" / "a.png", img)
    iio.imwrite(tmp_path / "masks" / "a.png", img)  # binary
    iio.imwrite(tmp_path / "images" / "b.png", img)
    tifffile.imwrite(tmp_path / "masks" / "b_labels.tif", discs().astype(np.uint16))
    items = read_paired(tmp_path)
    assert [it.id for it in items] == ["a", "b"]
    assert all(it.load()[1].max() == 2 for it in items)
    iio.imwrite(tmp_path / "images" / "c.png", img)
    with pytest.raises(InputError, match=r"c\.png: no mask with the same name"):
        read_paired(tmp_path)


def test_paired_size_mismatch(tmp_path):
    (tmp_path / "images").mkdir(); (tmp_path / "masks").mkdir()
    iio.imwrite(tmp_path / "images" / "a.png", np.zeros((20, 20), np.uint8))
    iio.imwrite(tmp_path / "masks" / "a.png", np.zeros((10, 20), np.uint8))
    with pytest.raises(InputError, match="mask size 20x10 differs from image size 20x20"):
        read_paired(tmp_path)[0].load()


def test_ctc_fixture_only_annotated_frames(tmp_path):
    seq = tmp_path / "01"; seg = tmp_path / "01_GT" / "SEG"
    seq.mkdir(); seg.mkdir(parents=True)
    for t in range(3):
        tifffile.imwrite(seq / f"t{t:03d}.tif", (discs() * 100).astype(np.uint16), compression="lzw")
    tifffile.imwrite(seg / "man_seg001.tif", discs().astype(np.uint16))
    items = read_ctc(seq)
    assert len(items) == 1 and items[0].image_path.name == "t001.tif"
    assert items[0].load()[1].max() == 2
    assert detect_layout(seq) == "ctc"


def test_ctc_frames_with_unoutlined_objects_are_not_trained_on(tmp_path):
    """A CTC frame whose SEG outlines 1 of the 2 objects its TRA markers show counts 1
    unoutlined object; training skips it (and says so) and keeps the complete frame."""
    from cellseg.training.data import load_annotated
    seq = tmp_path / "01"; seg = tmp_path / "01_GT" / "SEG"; tra = tmp_path / "01_GT" / "TRA"
    for d in (seq, seg, tra):
        d.mkdir(parents=True)
    full = discs().astype(np.uint16)
    for t in range(2):
        tifffile.imwrite(seq / f"t{t:03d}.tif", full * 100)
        tifffile.imwrite(tra / f"man_track{t:03d}.tif", full)
    tifffile.imwrite(seg / "man_seg000.tif", np.where(full == 1, 1, 0).astype(np.uint16))
    tifffile.imwrite(seg / "man_seg001.tif", full)
    items = read_ctc(seq)
    assert [unoutlined_objects(it, it.load()[1]) for it in items] == [1, 0]
    loaded = load_annotated([seq], quiet=True)
    assert loaded.partial == [items[0].id] and loaded.ids == [items[1].id]


def test_usiigaci_fixture(tmp_path):
    s = tmp_path / "set1"; s.mkdir()
    tifffile.imwrite(s / "raw.tif", np.zeros((64, 64), np.uint16))
    iio.imwrite(s / "instances_ids.png", discs().astype(np.uint8))
    items = open_dataset(tmp_path)
    assert items[0].group == "set1" and items[0].load()[1].max() == 2


def test_coco_polygons_and_rle(tmp_path):
    from pycocotools import mask as mask_utils
    iio.imwrite(tmp_path / "a.png", np.zeros((40, 40), np.uint8))
    square = np.zeros((40, 40), np.uint8, order="F"); square[20:30, 5:15] = 1
    rle = mask_utils.encode(np.asfortranarray(square))
    rle["counts"] = rle["counts"].decode()
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": 40, "width": 40}],
           "annotations": [
               {"id": 1, "image_id": 1, "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]]},
               {"id": 2, "image_id": 1, "segmentation": rle}]}
    (tmp_path / "ann.json").write_text(json.dumps(doc))
    assert detect_layout(tmp_path / "ann.json") == "coco"
    image, labels = read_coco(tmp_path / "ann.json")[0].load()
    assert labels.max() == 2
    assert (labels == 2).sum() == 100
    assert 90 <= (labels == 1).sum() <= 130  # a 10x10 polygon, rasterized


def test_unknown_layout(tmp_path):
    with pytest.raises(InputError, match="unknown dataset layout"):
        detect_layout(tmp_path)


# -- the real data -------------------------------------------------------------------------------

def test_real_dsb():
    items = read_dsb(shared("dsb2018", "stage1_train"))
    assert len(items) == 664
    image, labels = items[0].load()
    n_masks = len(list((items[0].image_path.parents[1] / "masks").glob("*.png")))
    assert image.ndim == 3 and image.shape[-1] == 3
    assert len(np.unique(labels)) - 1 == n_masks
    assert dsb_image_type(image) in {"fluorescence", "brightfield", "histology"}


def test_real_ctc_sim_and_gowt1():
    items = read_ctc(shared("ctc", "Fluo-N2DH-SIM+", "01"))
    assert len(items) == 65
    image, labels = items[21].load()
    assert image.dtype == np.uint16 and labels.max() > 0
    assert items[21].image_path.name == "t021.tif"
    gowt = read_ctc(shared("ctc", "Fluo-N2DH-GOWT1", "01"))
    assert len(gowt) == 30
    image, labels = gowt[0].load()
    assert image.shape == (1024, 1024) and labels.max() > 0  # GOWT1 SEG truth is partial
    # 4 of its 30 annotated frames outline every nucleus; the others leave ~21 unoutlined
    missing = [unoutlined_objects(it, it.load()[1]) for it in gowt]
    assert sum(m == 0 for m in missing) == 4 and min(m for m in missing if m) >= 20
    assert unoutlined_objects(items[21], items[21].load()[1]) == 0


def test_real_usiigaci():
    items = read_usiigaci(shared("usiigaci"))
    assert [it.id for it in items[:3]] == ["set1", "set2", "set3"] and len(items) == 45
    for item in (items[0], items[-1]):  # sets 21-45 are zlib-compressed TIFFs
        image, labels = item.load()
        assert image.dtype == np.uint16 and image.shape == labels.shape and labels.max() > 10
