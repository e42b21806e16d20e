"""Tracking on a real Cell Tracking Challenge movie, scored against its ground truth.

The frames are segmented with the Otsu pipeline, which segments this simulated movie better
than the bundled nuclei model does (benchmarks/tracking.py reports both on the whole movies).
Floors are regression guards set below the figures measured on these frames (10 frames:
SEG 0.50, link accuracy 0.93, count relative error 0.40).
"""
import tifffile
from conftest import shared

from cellseg.core.track_metrics import evaluate_tracking
from cellseg.jobs.track_movie import run_track
from cellseg.segmenter import make_segmenter

FRAMES = 8
SEG_FLOOR = 0.42
LINK_FLOOR = 0.85
COUNT_ERROR_CEILING = 0.6


def test_sim_movie_first_frames(tmp_path):
    seq = shared("ctc", "Fluo-N2DH-SIM+", "01")
    tracks = run_track(seq, tmp_path, make_segmenter(method="otsu"), quiet=True, max_frames=FRAMES, gif=False)
    with tifffile.TiffFile(tmp_path / "tracked.tif") as tif:
        frames = [p.asarray() for p in tif.pages]
    assert len(frames) == FRAMES
    s, per_frame = evaluate_tracking(frames, tracks, seq.parent / "01_GT")
    assert s["seg_mean"] >= SEG_FLOOR
    assert s["link_accuracy"] >= LINK_FLOOR
    assert s["count_mean_relative_error"] <= COUNT_ERROR_CEILING
