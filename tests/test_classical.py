import numpy as np
from conftest import discs, shared

from cellseg.core.classical import otsu_mask, segment_otsu
from cellseg.core.metrics import evaluate


def blobs(labels, dark=False, seed=0):
    rng = np.random.default_rng(seed)
    img = 20 + 180 * (labels > 0) + rng.normal(0, 5, labels.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return 255 - img if dark else img


def test_separate_objects_found():
    truth = discs()
    assert evaluate(truth, segment_otsu(blobs(truth)))["dsb_score"] > 0.8


def test_touching_discs_split_by_watershed_only():
    truth = discs((64, 80), centres=((32, 25), (32, 47)), radius=12)  # overlapping discs
    truth[(truth == 2) & (np.arange(80)[None, :] < 36)] = 1
    img = blobs(truth)
    assert segment_otsu(img, watershed=True).max() == 2
    assert segment_otsu(img, watershed=False).max() == 1


def test_dark_objects_on_bright_background():
    truth = discs()
    assert evaluate(truth, segment_otsu(blobs(truth, dark=True)))["ap50"] == 1.0


def test_blank_image_has_no_objects():
    assert segment_otsu(np.full((32, 32), 9, np.uint16)).max() == 0


def test_real_dsb_fluorescence_floor():
    from cellseg.io.datasets import read_dsb
    items = read_dsb(shared("dsb2018", "stage1_train"))[:20]
    pred, truth = [], []
    for it in items:
        image, labels = it.load()
        pred.append(segment_otsu(image))
        truth.append(labels)
    assert evaluate(truth, pred)["dsb_score"] > 0.35

def test_specks_removed_objects_kept():
    x = np.zeros((40, 40), np.float32)
    x[5:15, 5:15] = 1      # 100 px object
    x[30, 30] = 1          # 1 px speck
    m = otsu_mask(x, min_size=15, smooth=0)
    assert m[10, 10] and not m[30, 30]
