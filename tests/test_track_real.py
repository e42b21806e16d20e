"""Tracking on a real Cell Tracking Challenge movie, scored against its ground truth.

The frames are segmented with the Otsu pipeline, which segments this simulated movie better
than the bundled nuclei model does (benchmarks/tracking.py reports both on the whole movies).
Floors are regression guards set below the figures measured on these frames (10 frames:
SEG 0.50, link accuracy 0.93, count relative error 0.40).
"""
import subprocess
import sys

import numpy as np
import pandas as pd
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


def test_cells_model_tracks_a_phase_contrast_sequence(tmp_path):
    """`cellseg track --model cells` end to end on a phase-contrast sequence: 5 frames of a
    validation image (Usiigaci set 42, never trained on) seen through a window drifting 4 px
    down and 3 px right per frame. Nearly every cell keeps one track with a steady area."""
    image = tifffile.imread(shared("usiigaci", "set42", "raw.tif"))
    frames = np.stack([image[300 + 4 * f: 812 + 4 * f, 300 + 3 * f: 812 + 3 * f]
                       for f in range(5)])
    tifffile.imwrite(tmp_path / "movie.tif", frames)
    r = subprocess.run([sys.executable, "-m", "cellseg.cli", "track", tmp_path / "movie.tif",
                        "-o", tmp_path / "out", "--model", "cells", "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    tracks = pd.read_csv(tmp_path / "out" / "tracks.csv")
    frames_per_track = tracks.groupby("track_id")["frame"].nunique()
    assert tracks[tracks.frame == 0].track_id.nunique() >= 10
    assert (frames_per_track == 5).mean() >= 0.7
    area_change = tracks.sort_values("frame").groupby("track_id")["area"].apply(
        lambda a: (a.diff().abs() / a.shift()).median())
    assert area_change.median() < 0.1
    assert (tmp_path / "out" / "area_over_time.png").stat().st_size > 10_000
