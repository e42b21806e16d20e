import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from cellseg.errors import InputError
from cellseg.io import count_frames, find_images, iter_frames, read_frame, read_image
from cellseg.io.write import write_labels


@pytest.fixture
def gray16():
    rng = np.random.default_rng(0)
    return rng.integers(0, 65535, (40, 50), dtype=np.uint16)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_8bit_round_trip(tmp_path, suffix):
    img = np.arange(40 * 50, dtype=np.uint8).reshape(40, 50)
    iio.imwrite(tmp_path / f"a{suffix}", img)
    out = read_image(tmp_path / f"a{suffix}")
    assert out.dtype == np.uint8 and np.array_equal(out, img)


def test_jpeg_rgb(tmp_path):
    img = np.zeros((32, 48, 3), np.uint8)
    img[..., 0] = 200
    iio.imwrite(tmp_path / "a.jpg", img)
    out = read_image(tmp_path / "a.jpg")
    assert out.shape == (32, 48, 3) and abs(int(out[..., 0].mean()) - 200) < 3


@pytest.mark.parametrize("compression", [None, "lzw", "zlib"])
def test_tiff_16bit_compressions(tmp_path, gray16, compression):
    tifffile.imwrite(tmp_path / "a.tif", gray16, compression=compression)
    out = read_image(tmp_path / "a.tif")
    assert out.dtype == np.uint16 and np.array_equal(out, gray16)


@pytest.mark.parametrize("dtype", [np.uint32, np.float32, np.float64])
def test_tiff_32bit_and_float(tmp_path, dtype):
    img = (np.arange(30 * 20).reshape(30, 20) * 1.5).astype(dtype)
    tifffile.imwrite(tmp_path / "a.tif", img)
    out = read_image(tmp_path / "a.tif")
    assert out.dtype == dtype and np.allclose(out, img)


def test_constant_alpha_dropped_informative_alpha_kept(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 3] = 255
    iio.imwrite(tmp_path / "flat.png", rgba)
    assert read_image(tmp_path / "flat.png").shape == (20, 20, 3)
    rgba[:10, :, 3] = 0
    iio.imwrite(tmp_path / "mask.png", rgba)
    assert read_image(tmp_path / "mask.png").shape == (20, 20, 4)


def test_channel_pick(tmp_path):
    rgb = np.zeros((20, 24, 3), np.uint16)
    rgb[..., 2] = 1000
    tifffile.imwrite(tmp_path / "a.tif", rgb, photometric="rgb")
    assert read_image(tmp_path / "a.tif", channel=2).max() == 1000
    assert read_image(tmp_path / "a.tif", channel=0).max() == 0
    with pytest.raises(InputError, match="channel 3 asked for, image has 3 channels"):
        read_image(tmp_path / "a.tif", channel=3)


def test_multipage_tiff_frames_are_read_one_at_a_time(tmp_path):
    stack = np.stack([np.full((16, 16), i, np.uint16) for i in range(5)])
    tifffile.imwrite(tmp_path / "movie.tif", stack, compression="zlib")
    assert count_frames(tmp_path / "movie.tif") == 5
    assert read_frame(tmp_path / "movie.tif", 3).max() == 3
    assert [int(f.max()) for f in iter_frames(tmp_path / "movie.tif")] == [0, 1, 2, 3, 4]
    with pytest.raises(InputError, match="frame 7 asked for, file has 5"):
        read_frame(tmp_path / "movie.tif", 7)


def test_imagej_channel_stack(tmp_path):
    data = np.zeros((2, 3, 16, 16), np.uint8)  # T, C, Y, X
    data[1, 2] = 9
    tifffile.imwrite(tmp_path / "tc.tif", data, imagej=True, metadata={"axes": "TCYX"})
    assert count_frames(tmp_path / "tc.tif") == 2
    frame = read_frame(tmp_path / "tc.tif", 1)
    assert frame.shape == (16, 16, 3) and frame[..., 2].max() == 9


def test_gif_all_frames(tmp_path):
    frames = np.stack([np.full((12, 12), v, np.uint8) for v in (0, 100, 200)])
    iio.imwrite(tmp_path / "a.gif", frames, extension=".gif")
    assert count_frames(tmp_path / "a.gif") == 3
    assert abs(int(read_frame(tmp_path / "a.gif", 2).mean()) - 200) <= 2


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match=r"notes\.txt: not an image file"):
        read_image(tmp_path / "notes.txt")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match=r"broken\.png: (cannot read image|not a readable)"):
        read_image(tmp_path / "broken.png")
    (tmp_path / "words.png").write_bytes(b"this is a text file named like an image")
    with pytest.raises(InputError) as err:  # imageio's multi-line plugin hint never reaches users
        read_image(tmp_path / "words.png")
    assert "\n" not in str(err.value) and "pip install" not in str(err.value)
    assert "words.png: not a readable image" in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="folder holds no images"):
        find_images([tmp_path / "empty"])


def test_find_images_natural_order_and_globs(tmp_path):
    for name in ("t10.png", "t2.png", "t1.png", "readme.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in find_images(tmp_path)] == ["t1.png", "t2.png", "t10.png"]
    assert [p.name for p in find_images(str(tmp_path / "t1*.png"))] == ["t1.png", "t10.png"]


def test_labels_written_atomically_and_readable(tmp_path):
    labels = np.zeros((10, 10), np.int32)
    labels[2:4, 2:4] = 70000
    write_labels(tmp_path / "l.tif", labels)
    out = read_image(tmp_path / "l.tif")
    assert out.dtype == np.uint32 and out.max() == 70000
    assert [p.name for p in tmp_path.iterdir()] == ["l.tif"]  # no temporary left behind


@pytest.mark.parametrize("shape", [(1, 1), (1, 50), (50, 1)])
def test_one_pixel_wide_images_are_too_small(tmp_path, shape):
    tifffile.imwrite(tmp_path / "thin.tif", np.ones(shape, np.uint16))
    with pytest.raises(InputError, match=r"thin\.tif: image is too small \(\d+x\d+ pixels"):
        read_image(tmp_path / "thin.tif")


def test_pixel_size_comes_from_the_file_unless_given(tmp_path):
    """--pixel-size auto (the default): an OME-TIFF's PhysicalSizeX (here in nm) and an ImageJ
    TIFF's calibration give µm columns; a given value overrides; the label TIFF is an OME-TIFF
    carrying the pixel size so Fiji and napari show µm."""
    import pandas as pd
    from conftest import discs

    from cellseg.io.images import pixel_size
    from cellseg.jobs.segment_batch import run_segment
    image = (20 + 150 * (discs() > 0)).astype(np.uint16)
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "ome.ome.tif", image, ome=True,
                     metadata={"PhysicalSizeX": 500, "PhysicalSizeXUnit": "nm",
                               "PhysicalSizeY": 500, "PhysicalSizeYUnit": "nm"})
    tifffile.imwrite(src / "ij.tif", image, imagej=True, resolution=(4, 4),
                     metadata={"unit": "micron"})
    tifffile.imwrite(src / "plain.tif", image)
    assert pixel_size(src / "ome.ome.tif") == pytest.approx(0.5)
    assert pixel_size(src / "ij.tif") == pytest.approx(0.25)
    assert pixel_size(src / "plain.tif") is None
    out = tmp_path / "out"
    assert run_segment([src], out, method="otsu", quiet=True).ok
    summary = pd.read_csv(out / "summary.csv").set_index("image")
    assert summary.loc["ome.ome.tif", "pixel_size_source"] == "file"
    assert summary.loc["ij.tif", "pixel_size_um"] == pytest.approx(0.25)
    assert summary.loc["plain.tif", "pixel_size_source"] == "none"
    table = pd.read_csv(out / "measurements.csv")
    ome = table[table["image"] == "ome.ome.tif"]
    assert np.allclose(ome["area_um2"], ome["area"] * 0.25)
    assert pixel_size(out / "ome.ome_labels.tif") == pytest.approx(0.5)
    with tifffile.TiffFile(out / "ij_labels.tif") as tif:  # OME-TIFF, µm, + cm resolution tags
        assert tif.is_ome and 'PhysicalSizeX="0.25"' in tif.ome_metadata
        assert 'PhysicalSizeXUnit="µm"' in tif.ome_metadata
        assert tif.pages[0].tags["ResolutionUnit"].value == 3  # centimetre
        assert tif.pages[0].tags["XResolution"].value == (40000, 1)
    given = tmp_path / "given"
    run_segment([src / "ome.ome.tif"], given, method="otsu", pixel_size=0.1, quiet=True)
    row = pd.read_csv(given / "summary.csv").iloc[0]
    assert row["pixel_size_source"] == "given" and row["pixel_size_um"] == pytest.approx(0.1)


def test_channel_by_name(tmp_path):
    from cellseg.io.images import channel_names
    data = np.stack([np.full((6, 6), 10, np.uint16), np.full((6, 6), 20, np.uint16)])
    tifffile.imwrite(tmp_path / "c.ome.tif", data, ome=True,
                     metadata={"axes": "CYX", "Channel": {"Name": ["DAPI", "GFP"]}})
    assert channel_names(tmp_path / "c.ome.tif") == ["DAPI", "GFP"]
    assert read_image(tmp_path / "c.ome.tif", channel="GFP").max() == 20
    assert read_image(tmp_path / "c.ome.tif", channel="0").max() == 10
    with pytest.raises(InputError, match=r"no channel named 'RFP' \(DAPI, GFP\)"):
        read_image(tmp_path / "c.ome.tif", channel="RFP")


def write_czi(path, planes, names, pixel_size_um):
    """A CZI file (pylibCZIrw) of ``planes[t][c]`` 2-D arrays with channel names and scaling."""
    from pylibCZIrw import czi as pyczi
    with pyczi.create_czi(str(path), exist_ok=True) as czi:
        for t, channels in enumerate(planes):
            for c, plane in enumerate(channels):
                czi.write(data=plane, plane={"T": t, "C": c, "Z": 0})
        czi.write_metadata(document_name=path.stem, channel_names=dict(enumerate(names)),
                           scale_x=pixel_size_um * 1e-6, scale_y=pixel_size_um * 1e-6)


def test_czi_frames_channels_and_pixel_size(tmp_path):
    """A Zeiss CZI (written with pylibCZIrw): 3 time points of 2 named channels at 0.325 µm.
    Frames, channel names and pixel size come from the file; `cellseg segment --channel DAPI`
    gives the labels of the same image as a PNG, with µm columns."""
    pytest.importorskip("pylibCZIrw", reason="the formats extra is not installed")
    import pandas as pd
    from conftest import SAMPLES

    from cellseg.io.images import channel_names, pixel_size
    from cellseg.jobs.segment_batch import run_segment
    nuclei = iio.imread(next(SAMPLES.glob("images/fluorescence_*")))
    nuclei = nuclei if nuclei.ndim == 2 else nuclei[..., 0]
    blank = np.zeros_like(nuclei)
    write_czi(tmp_path / "movie.czi", [[nuclei + t, blank + t] for t in range(3)],
              ["DAPI", "GFP"], 0.325)
    assert count_frames(tmp_path / "movie.czi") == 3
    assert channel_names(tmp_path / "movie.czi") == ["DAPI", "GFP"]
    assert pixel_size(tmp_path / "movie.czi") == pytest.approx(0.325)
    frames = list(iter_frames(tmp_path / "movie.czi", channel="GFP"))
    assert [int(f.max()) for f in frames] == [0, 1, 2]
    assert read_frame(tmp_path / "movie.czi", 1).shape == (*nuclei.shape, 2)
    with pytest.raises(InputError, match="frame 3 asked for, file has 3"):
        read_frame(tmp_path / "movie.czi", 3)
    write_czi(tmp_path / "still.czi", [[blank, nuclei]], ["GFP", "DAPI"], 0.325)
    iio.imwrite(tmp_path / "same.png", nuclei)
    out = tmp_path / "out"
    assert run_segment([tmp_path / "still.czi"], out, channel="DAPI", quiet=True).ok
    assert run_segment([tmp_path / "same.png"], tmp_path / "png", quiet=True).ok
    assert np.array_equal(tifffile.imread(out / "still_labels.tif"),
                          tifffile.imread(tmp_path / "png" / "same_labels.tif"))
    assert pixel_size(out / "still_labels.tif") == pytest.approx(0.325)
    assert "area_um2" in pd.read_csv(out / "measurements.csv").columns
    summary = pd.read_csv(out / "summary.csv").set_index("image")
    assert summary.loc["still.czi", "pixel_size_source"] == "file"
    assert summary.loc["still.czi", "pixel_size_um"] == pytest.approx(0.325)


def test_vendor_file_without_its_reader_is_a_one_line_error(tmp_path, monkeypatch):
    from cellseg.io import vendor
    monkeypatch.setitem(vendor.READERS, ".nd2", "no_such_reader_module")
    (tmp_path / "x.nd2").write_bytes(b"not really")
    with pytest.raises(InputError, match=r"x.nd2: reading .nd2 files needs no_such_reader_module"
                                         r": pip install 'cellseg-offline\[formats\]'"):
        read_image(tmp_path / "x.nd2")
