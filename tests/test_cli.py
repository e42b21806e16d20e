"""The command line as a user runs it: real files in, files a person opens out."""
import json
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import tifffile
from conftest import discs


def cellseg(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cellseg.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def images(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    lab = discs((80, 80), centres=((20, 20), (50, 55), (60, 15)), radius=9)
    img = (20 + 150 * (lab > 0)).astype(np.uint8)
    iio.imwrite(d / "a.png", img)
    tifffile.imwrite(d / "b.tif", (img.astype(np.uint16) * 200), compression="lzw")
    tifffile.imwrite(d / "stack.tif", np.stack([img, img[::-1]]))
    truth = tmp_path / "truth"
    truth.mkdir()
    for stem in ("a", "b"):
        tifffile.imwrite(truth / f"{stem}.tif", lab.astype(np.uint16))
    return d


def test_segment_otsu_writes_labels_overlay_and_tables(images, tmp_path):
    out = tmp_path / "out"
    r = cellseg("segment", images, "-o", out, "--method", "otsu", "--pixel-size", "0.5", "--quiet")
    assert r.returncode == 0, r.stderr
    labels = tifffile.imread(out / "a_labels.tif")
    assert labels.shape == (80, 80) and labels.max() == 3
    assert tifffile.imread(out / "stack_labels.tif").shape == (2, 80, 80)
    overlay = iio.imread(out / "a_overlay.png")
    assert overlay.shape == (80, 80, 3)
    m = pd.read_csv(out / "measurements.csv")
    assert {"image", "label", "area", "centroid_y", "centroid_x", "area_um2"} <= set(m.columns)
    assert len(m[m.image == "a.png"]) == 3
    s = pd.read_csv(out / "summary.csv")
    assert list(s[s.image == "b.tif"]["count"]) == [3]


def test_rerun_skips_done_images_and_keeps_tables(images, tmp_path):
    out = tmp_path / "out"
    assert cellseg("segment", images, "-o", out, "--method", "otsu", "-q").returncode == 0
    before = pd.read_csv(out / "measurements.csv")
    r = cellseg("segment", images, "-o", out, "--method", "otsu")
    assert "0 segmented, 3 already done" in r.stdout
    pd.testing.assert_frame_equal(pd.read_csv(out / "measurements.csv"), before)


def test_bad_file_in_batch_others_still_done(images, tmp_path):
    (images / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    r = cellseg("segment", images, tmp_path / "missing.tif", "-o", out, "--method", "otsu", "-q")
    assert r.returncode == 1
    assert "broken.png: not a readable image" in r.stderr
    assert "missing.tif: no such file or folder" in r.stderr
    assert (out / "a_labels.tif").exists() and (out / "b_labels.tif").exists()


def test_outputs_never_overwrite_inputs(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    iio.imwrite(d / "x.png", (discs() > 0).astype(np.uint8) * 200)
    iio.imwrite(d / "x_overlay.png", np.zeros((64, 64), np.uint8))
    before = (d / "x_overlay.png").read_bytes()
    r = cellseg("segment", d / "x.png", d / "x_overlay.png", "-o", d, "--method", "otsu", "-q")
    assert r.returncode == 1 and "would overwrite this input" in r.stderr
    assert (d / "x_overlay.png").read_bytes() == before


def test_evaluate_json_and_files(images, tmp_path):
    out = tmp_path / "out"
    cellseg("segment", images / "a.png", images / "b.tif", "-o", out, "--method", "otsu", "-q")
    r = cellseg("evaluate", out, tmp_path / "truth", "--json", "-o", tmp_path / "ev")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    for key in ("dsb_score", "ap50", "f1_50", "pixel_iou", "pixel_dice", "count_mae", "images",
                "pq", "aji"):
        assert key in doc
    assert doc["images"] == 2 and doc["ap50"] == 1.0 and doc["count_mae"] == 0
    assert 0.5 < doc["pq"] <= 1 and 0.5 < doc["aji"] <= 1
    assert (tmp_path / "ev" / "per_image.csv").exists()
    table = cellseg("evaluate", out, tmp_path / "truth").stdout
    assert "dsb_score" in table and "pixel_iou" in table and "aji" in table


def test_measure_labels_made_elsewhere(images, tmp_path):
    r = cellseg("measure", tmp_path / "truth", "--images", images, "-o", tmp_path / "m.csv",
                "--pixel-size", "2")
    assert r.returncode == 0, r.stderr
    m = pd.read_csv(tmp_path / "m.csv")
    assert len(m) == 6 and "mean_intensity" in m.columns
    assert np.allclose(m["area_um2"], m["area"] * 4)


def test_empty_folder_and_help(tmp_path):
    (tmp_path / "empty").mkdir()
    r = cellseg("segment", tmp_path / "empty", "-o", tmp_path / "o", "--method", "otsu", "-q")
    assert r.returncode == 1 and "folder holds no images" in r.stderr
    assert cellseg("--help").returncode == 0
    assert "--tile" in cellseg("segment", "--help").stdout


def test_killed_run_resumes_without_loss(tmp_path):
    """kill -9 in the middle of a batch, run again: every image done, finished ones skipped."""
    import os
    import signal
    import time
    d = tmp_path / "many"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        lab = discs((300, 300), centres=[tuple(rng.integers(30, 270, 2)) for _ in range(8)],
                    radius=12)
        iio.imwrite(d / f"img{i:02d}.png", (20 + 150 * (lab > 0)).astype(np.uint8))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "cellseg.cli", "segment", str(d), "-o",
                             str(out), "--method", "otsu", "-q"])
    records = out / ".cellseg"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(records.glob("*.json"))) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.stem for p in records.glob("*.json")}
    assert 3 <= len(done_before) < 12, "the run should be killed part-way"
    r = cellseg("segment", d, "-o", out, "--method", "otsu")
    assert r.returncode == 0, r.stderr
    assert f"{12 - len(done_before)} segmented, {len(done_before)} already done" in r.stdout
    assert not list(out.glob(".*.part"))
    clean = tmp_path / "clean"
    assert cellseg("segment", d, "-o", clean, "--method", "otsu", "-q").returncode == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"),
                                  pd.read_csv(clean / "summary.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(out / "measurements.csv"),
                                  pd.read_csv(clean / "measurements.csv"))
    for i in range(12):
        assert np.array_equal(tifffile.imread(out / f"img{i:02d}_labels.tif"),
                              tifffile.imread(clean / f"img{i:02d}_labels.tif"))


def test_bad_diameter_is_a_usage_error(images, tmp_path):
    r = cellseg("segment", images / "a.png", "-o", tmp_path / "out", "--diameter", "big")
    assert r.returncode == 2 and "--diameter" in r.stderr and "big" in r.stderr
    assert not (tmp_path / "out").exists()
