"""Tracking on a real Cell Tracking Challenge movie, scored against its ground truth.

Floors are regression guards set below the figures measured with the bundled nuclei model on
the same frames (benchmarks/tracking.py reports the whole movies).
"""
import tifffile

from cellseg.model import load_model
from cellseg.track_eval import evaluate_tracking
from cellseg.track_run import run_track
from conftest import shared

FRAMES = 8


def test_sim_movie_first_frames(tmp_path):
    seq = shared("ctc", "Fluo-N2DH-SIM+", "01")
    model = load_model("nuclei")
    tracks = run_track(seq, tmp_path, model.segment, quiet=True, max_frames=FRAMES, gif=False)
    with tifffile.TiffFile(tmp_path / "tracked.tif") as tif:
        frames = [p.asarray() for p in tif.pages]
    assert len(frames) == FRAMES
    s, per_frame = evaluate_tracking(frames, tracks, seq.parent / "01_GT")
    assert s["seg_mean"] >= SEG_FLOOR
    assert s["link_accuracy"] >= LINK_FLOOR
    assert s["count_mean_relative_error"] <= COUNT_ERROR_CEILING
