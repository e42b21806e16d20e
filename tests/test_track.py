import numpy as np
import pandas as pd
import pytest
import tifffile
from conftest import discs

from cellseg.core.tracking import Tracker
from cellseg.core.wells import fill_background, grid_boxes, parse_grid
from cellseg.io.movies import open_movie
from cellseg.jobs.track_movie import compare_manual, run_track
from cellseg.segmenter import make_segmenter


def moving_discs(n_frames=6, shape=(96, 96)):
    """Two cells drifting right; the second is missed in frame 3."""
    frames = []
    for f in range(n_frames):
        centres = [(30, 20 + 2 * f), (65, 30 + 3 * f)]
        if f == 3:
            centres = centres[:1]
        frames.append(discs(shape, centres=centres, radius=9 + (f % 2)))
    return frames


def test_ids_kept_across_frames_and_a_gap():
    tr = Tracker(max_gap=2)
    out = [tr.update(f)[0] for f in moving_discs()]
    first = {out[0][30, 20], out[0][65, 30]}
    assert len(first) == 2
    for f, lab in enumerate(out):
        assert lab[30, 20 + 2 * f] == out[0][30, 20]
        if f != 3:
            assert lab[65, 30 + 3 * f] == out[0][65, 30]


def test_division_records_parent():
    tr = Tracker()
    mother = discs((80, 80), centres=((40, 40),), radius=12)
    daughters = discs((80, 80), centres=((40, 32), (40, 49)), radius=7)
    m, _ = tr.update(mother)
    d, parents = tr.update(daughters)
    mid = int(m[40, 40])
    assert set(np.unique(d)) - {0} == {k for k, v in parents.items() if v == mid}
    assert len(set(np.unique(d)) - {0}) == 2


def test_track_movie_outputs(tmp_path):
    frames = [(30 + 150 * (lab > 0)).astype(np.uint8) for lab in moving_discs()]
    tifffile.imwrite(tmp_path / "movie.tif", np.stack(frames))
    out = tmp_path / "out"
    tracks = run_track(tmp_path / "movie.tif", out, make_segmenter(method="otsu"), quiet=True)
    stack = tifffile.imread(out / "tracked.tif")
    assert stack.shape == (6, 96, 96)
    assert tracks["track_id"].nunique() == 2
    assert set(pd.read_csv(out / "tracks.csv").columns) >= {
        "frame", "track_id", "area", "centroid_y", "centroid_x", "mean_intensity", "parent_id"}
    counts = pd.read_csv(out / "counts.csv")
    assert list(counts["count"]) == [2, 2, 2, 1, 2, 2]
    assert (out / "area_over_time.png").stat().st_size > 1000
    assert (out / "overlay.gif").exists()
    manual = tmp_path / "manual.csv"
    t1 = tracks[tracks.track_id == tracks.track_id.min()]
    pd.DataFrame({"frame": t1.frame, "area": t1.area * 1.1}).to_csv(manual, index=False)
    res = compare_manual(tracks, manual, out)["series"][0]
    assert res["mean_relative_error"] == pytest.approx(1 / 11, abs=1e-6)
    assert res["pearson_r"] == pytest.approx(1.0)


def test_folder_of_frames_in_natural_order(tmp_path):
    import imageio.v3 as iio
    for i in (0, 1, 2, 10):
        iio.imwrite(tmp_path / f"f{i}.png", np.full((8, 8), i, np.uint8))
    movie = open_movie(tmp_path)
    assert len(movie) == 4 and [int(f.max()) for f in movie] == [0, 1, 2, 10]


def test_grid_and_well_background():
    assert parse_grid("2x3") == (2, 3)
    with pytest.raises(ValueError, match="rows x columns"):
        parse_grid("four")
    boxes = grid_boxes((100, 90), 2, 3)
    assert len(boxes) == 6 and boxes[-1] == (slice(50, 100), slice(60, 90))
    well = np.full((60, 60), 200.0)  # bright plate outside
    yy, xx = np.mgrid[:60, :60]
    inside = (yy - 30) ** 2 + (xx - 30) ** 2 < 25**2
    well[inside] = 50
    well[(yy - 30) ** 2 + (xx - 30) ** 2 < 5**2] = 120  # a cell
    filled = fill_background(well)
    assert abs(filled[0, 0] - well[inside].mean()) < 5.0  # the wall's blurred edge counts a little
    assert filled[30, 30] == 120


def test_track_command_with_grid_and_report(tmp_path):
    import subprocess
    import sys
    frames = []
    for lab in moving_discs(4, shape=(96, 192)):
        frames.append((30 + 150 * (np.concatenate([lab[:, :96], lab[:, :96]], 1) > 0)).astype(np.uint8))
    tifffile.imwrite(tmp_path / "plate.tif", np.stack(frames))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "cellseg.cli", "track", str(tmp_path / "plate.tif"),
                        "-o", str(out), "--grid", "1x2", "--method", "otsu", "--report", "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    counts = pd.read_csv(out / "counts.csv")
    assert set(counts["well"]) == {0, 1}
    tracks = pd.read_csv(out / "tracks.csv")
    assert tracks.groupby("well")["track_id"].nunique().to_dict() == {0: 2, 1: 2}
    assert (out / "report.html").exists() and (out / "overlay.gif").exists()


def test_tracker_costs_are_parameters():
    """A jump of 25 px between frames: linked with the default search radius (1.5 diameters
    of 19 px), a new track with a radius of 0.5 diameters; a gap of 2 frames is bridged with
    max_gap 2, not with max_gap 1."""
    a = discs((80, 120), centres=((40, 30),), radius=9)
    b = discs((80, 120), centres=((40, 55),), radius=9)
    empty = np.zeros_like(a)
    assert Tracker().update(a)[0].max() == Tracker().update(b)[0].max() == 1
    near = Tracker(search_radius=0.5)
    near.update(a)
    assert near.update(b)[0].max() == 2
    for gap, expected in ((2, 1), (1, 2)):
        tr = Tracker(max_gap=gap)
        ids = [tr.update(f)[0].max() for f in (a, empty, empty, a)]
        assert ids[-1] == expected


def test_api_and_command_give_the_same_table(tmp_path):
    """cellseg.track and cellseg track run one loop: same columns, same rows."""
    import cellseg
    frames = [(30 + 150 * (lab > 0)).astype(np.uint8) for lab in moving_discs()]
    tifffile.imwrite(tmp_path / "movie.tif", np.stack(frames))
    job = run_track(tmp_path / "movie.tif", tmp_path / "out", make_segmenter(method="otsu"),
                    quiet=True, gif=False)
    _, api = cellseg.track(frames, method="otsu")
    assert list(api.columns) == list(job.columns)
    pd.testing.assert_frame_equal(api.reset_index(drop=True), job.reset_index(drop=True),
                                  check_dtype=False)
