import numpy as np
from conftest import discs

import cellseg


def test_api_otsu_measure_evaluate_track():
    truth = discs()
    image = (20 + 150 * (truth > 0)).astype(np.uint8)
    labels = cellseg.segment(image, method="otsu")
    assert cellseg.evaluate(truth, labels)["ap50"] == 1.0
    assert len(cellseg.measure(labels, image)) == 2
    frames = [np.roll(truth, s, axis=1) for s in range(3)]
    tracked, table = cellseg.track(frames, labels=True)
    assert len(tracked) == 3 and table["track_id"].nunique() == 2
    assert list(table.groupby("frame").size()) == [2, 2, 2]
