import numpy as np
import pytest

from cellseg.core.preprocess import (
    fit_normalization,
    has_bright_background,
    percentile_normalize,
    prepare,
    to_gray,
)


def test_16bit_maps_percentiles_to_0_and_1():
    x = np.linspace(0, 60000, 10000).astype(np.uint16).reshape(100, 100)
    y = percentile_normalize(x, 1, 99)
    assert y.dtype == np.float32
    assert np.percentile(y, 1) == pytest.approx(0, abs=1e-3)
    assert np.percentile(y, 99) == pytest.approx(1, abs=1e-3)


@pytest.mark.parametrize("value", [0, 7, 65535])
def test_constant_image_is_zero_not_nan(value):
    y = percentile_normalize(np.full((20, 20), value, np.uint16))
    assert np.isfinite(y).all() and y.max() == 0


def test_nearly_empty_image_keeps_its_few_objects():
    x = np.zeros((100, 100), np.uint16)
    x[50, 50] = 1000  # one bright pixel: the 99.8th percentile is still 0
    y = percentile_normalize(x)
    assert np.isfinite(y).all() and y[50, 50] == pytest.approx(1.0) and y[0, 0] == 0


def test_nan_pixels_do_not_poison_the_image():
    x = np.ones((10, 10), np.float32)
    x[0, 0] = np.nan
    x[5:, :] = 3
    assert np.isfinite(percentile_normalize(x)).all()


def test_dark_objects_on_bright_background_are_inverted():
    bright = np.full((60, 60), 200, np.uint8)
    bright[20:30, 20:30] = 30  # a dark nucleus
    assert has_bright_background(to_gray(bright))
    x = prepare(bright)
    assert x[25, 25] > x[5, 5]  # the nucleus is bright after preparation
    dark = 255 - bright
    assert not has_bright_background(to_gray(dark))
    assert np.allclose(prepare(dark), x, atol=1e-5)


def test_rgb_goes_to_gray():
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[..., 1] = 100
    assert prepare(rgb).shape == (10, 10)


@pytest.mark.parametrize("name", ["fluorescence_0287e7ee", "brightfield_091944f1"])
def test_hematoxylin_channel_of_a_gray_image_shows_nuclei_bright(name):
    """A gray fluorescence or brightfield sample read as a hematoxylin channel (as the he model
    reads it) has its annotated nuclei brighter than its background, as a stain shows them."""
    from skimage.io import imread

    from cellseg.core.preprocess import hematoxylin
    from conftest import SAMPLES
    image = imread(SAMPLES / "images" / f"{name}.png")
    nuclei = imread(SAMPLES / "masks" / f"{name}.tif") > 0
    h = hematoxylin(image)
    assert h.shape == nuclei.shape
    assert np.median(h[nuclei]) > np.median(h[~nuclei]) + 0.2 * (h.max() - h.min())


def test_hematoxylin_eosin_input_keeps_the_nuclear_plane_and_adds_the_counterstain():
    """The two-plane stain input of a histology sample: its first plane is the hematoxylin
    channel (nuclei above background), its second the eosin density; a gray image has no
    counterstain, so its second plane is zeros."""
    from skimage.io import imread

    from cellseg.core.preprocess import hematoxylin, hematoxylin_eosin
    from conftest import SAMPLES
    image = imread(SAMPLES / "images" / "histology_0d3640c1.png")
    nuclei = imread(SAMPLES / "masks" / "histology_0d3640c1.tif") > 0
    he = hematoxylin_eosin(image)
    assert he.shape == (2, *nuclei.shape) and he.dtype == np.float32
    assert np.array_equal(he[0], hematoxylin(image))
    assert np.median(he[0][nuclei]) > 2 * np.median(he[0][~nuclei])
    assert he[1].max() > 0
    assert prepare(image, channel="hematoxylin_eosin", invert=False).shape == he.shape
    gray = hematoxylin_eosin(image[..., 0])
    assert np.array_equal(gray[0], hematoxylin(image[..., 0])) and not gray[1].any()


@pytest.mark.parametrize("channel", ["rgb", "hematoxylin_eosin", "hematoxylin"])
def test_an_image_is_prepared_alike_for_training_and_for_prediction(channel):
    """Training prepares an image with its own normalization (prepare), prediction with the
    model's (fit_normalization, also fitted to a subsample of a huge image): both must map a
    colour image the same way; the stain planes each to their own range."""
    from skimage.io import imread

    from conftest import SAMPLES
    image = imread(SAMPLES / "images" / "histology_0d3640c1.png")
    own = prepare(image, channel=channel)
    fitted = prepare(image, channel=channel, norm=fit_normalization(image, channel=channel))
    assert np.allclose(own, fitted, atol=1e-6)
    if channel == "hematoxylin_eosin":
        assert all(abs(np.percentile(p, 99.8) - 1) < 1e-3 for p in own)
