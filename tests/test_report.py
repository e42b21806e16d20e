"""Reports: self-contained HTML, checked in a real headless Chromium where one is installed."""
import re
import shutil
import subprocess

import numpy as np
import pytest
import tifffile
from conftest import SAMPLES
from test_track import moving_discs

from cellseg.jobs.evaluate_folder import run_evaluate
from cellseg.jobs.segment_batch import run_segment
from cellseg.jobs.track_movie import run_track
from cellseg.segmenter import make_segmenter
from cellseg.viz.report import build_report

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium installed (Debian package 'chromium'; .ci/run installs it)")


def render(html_path, tmp_path, screenshot=None):
    """DOM after load, as Chromium sees it; optionally a PNG screenshot."""
    base = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000"]
    dom = subprocess.run(base + ["--dump-dom", html_path.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    if screenshot:
        subprocess.run(base + [f"--screenshot={screenshot}", "--window-size=1280,2400",
                               "--hide-scrollbars", html_path.as_uri()],
                       capture_output=True, timeout=120)
    return dom


@pytest.fixture(scope="module")
def report_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    seg = tmp / "segment"
    run_segment([SAMPLES / "images"], seg, method="otsu", quiet=True)
    ev = tmp / "evaluate"
    run_evaluate(seg, SAMPLES, ev, log=lambda m: None)
    trk = tmp / "track"
    frames = [(30 + 150 * (lab > 0)).astype(np.uint8) for lab in moving_discs()]
    tifffile.imwrite(tmp / "movie.tif", np.stack(frames))
    run_track(tmp / "movie.tif", trk, make_segmenter(method="otsu"), quiet=True)
    return {"segment": seg, "evaluate": ev, "track": trk}


@pytest.mark.parametrize("kind", ["segment", "evaluate", "track"])
def test_report_is_self_contained(report_runs, kind):
    page = build_report(report_runs[kind]).read_text()
    srcs = re.findall(r'<img src="([^"]{0,40})', page)
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    assert "http://" not in page and "https://" not in page


def test_plots_written_next_to_csvs(report_runs):
    build_report(report_runs["segment"])
    build_report(report_runs["evaluate"])
    for name in ("counts_per_image.png", "area_histogram.png"):
        assert (report_runs["segment"] / name).stat().st_size > 5000
    for name in ("confusion_matrix.png", "score_vs_iou.png", "model_vs_otsu.png"):
        assert (report_runs["evaluate"] / name).stat().st_size > 5000
    assert len(list(report_runs["evaluate"].glob("worst_*.png"))) == 4


def test_not_a_run_folder(tmp_path):
    from cellseg.errors import InputError
    with pytest.raises(InputError, match="no cellseg results here"):
        build_report(tmp_path)


@pytest.mark.parametrize("kind", ["segment", "evaluate", "track"])
def test_report_renders_in_chromium(report_runs, kind, tmp_path):
    path = build_report(report_runs[kind])
    shot = tmp_path / f"{kind}.png"
    dom = render(path, tmp_path, screenshot=shot)
    status = re.search(r'data-images="(\d+) loaded=(\d+)"', dom)
    assert status, "the page's load check did not run"
    n, loaded = map(int, status.groups())
    assert n > 0 and loaded == n
    assert "data-errors" not in dom
    assert shot.exists() and shot.stat().st_size > 10000
