"""The bundled models: load offline, segment the bundled samples above a score floor.

The floors are regression guards set below the scores measured when the models were trained
(see the README's accuracy section); they are not timings.
"""
import json

from conftest import SAMPLES, shared

from cellseg.core.metrics import evaluate
from cellseg.io.datasets import read_paired
from cellseg.jobs.evaluate_folder import evaluate_folder
from cellseg.jobs.segment_batch import run_segment
from cellseg.model.store import BUNDLED_DIR, bundled_models, load_model

# measured with the bundled models and their current thresholds (default --diameter auto):
# samples DSB 0.445 (0.22.0 nuclei, pretrained encoder, with 0.21.0 he; 0.405 with 0.10.0
# nuclei and 0.9.0 he; 0.303 with 0.6.0 nuclei); fluorescence sample DSB 0.484, AP50 0.731
# (0.22.0 nuclei; 0.10.0: 0.427 / 0.667; 0.6.0: 0.412 / 0.652; 0.5.0: 0.407 / 0.609); cells
# model on Usiigaci set41, a validation set it never trained on: AP50 0.911 (0.15.0, the mean
# of 0.14.0's and 0.13.0's networks; 0.14.0: 0.870; 0.13.0: 0.871; 0.12.0: 0.880; 0.10.0:
# 0.860; 0.7.0: 0.851; 0.6.0, rim seeds: 0.776; 0.4.0: 0.542);
# he model on the 5 MoNuSeg images of its held-out patients:
# F1@0.5 0.756, PQ 0.563 (0.21.0, one run; 0.13.0: 0.759 / 0.567; 0.9.0, flows: 0.743 / 0.552;
# 0.8.0, rims: 0.711 / 0.527; 0.7.0: 0.731 / 0.541)
SAMPLE_DSB_FLOOR = 0.35
FLUO_DSB_FLOOR = 0.38
FLUO_AP50_FLOOR = 0.60
CELLS_AP50_FLOOR = 0.80
HE_MONUSEG_F1_FLOOR = 0.70
HE_MONUSEG_PQ_FLOOR = 0.51


def test_models_are_bundled_small_and_documented():
    assert {"nuclei", "he", "cells"} <= set(bundled_models())
    for name in ("nuclei", "he", "cells"):
        assert (BUNDLED_DIR / f"{name}.safetensors").stat().st_size < 20 * 2**20
        card = json.loads((BUNDLED_DIR / f"{name}.json").read_text())
        assert card["validation"]["dsb_score"] > 0 and card["training"]["val_ids"]
        assert card["training"]["config"]["epochs"] > 0
        assert len(card["weights_sha256"]) == 64
    he = json.loads((BUNDLED_DIR / "he.json").read_text())
    assert he["input"]["channels"] == "hematoxylin"
    assert any("CC BY-NC-SA" in lic for lic in he["training"]["data_licences"])
    assert he["training"]["seconds"] > 0 and he["training"]["hardware"]



def test_default_model_on_bundled_samples(tmp_path):
    """No option: the stained-tissue sample goes to the H&E model, the others to nuclei (the
    model used is a column of summary.csv); together above a floor and above Otsu."""
    import pandas as pd
    result = run_segment([SAMPLES / "images"], tmp_path, quiet=True)
    assert result.ok and len(result.done) == 4
    used = pd.read_csv(tmp_path / "summary.csv").set_index("image")["model"].to_dict()
    assert used == {"brightfield_091944f1.png": "nuclei",
                    "fluorescence-large_07fb37aa.png": "nuclei",
                    "fluorescence_0287e7ee.png": "nuclei", "histology_0d3640c1.png": "he"}
    scores, per_image, base = evaluate_folder(tmp_path, SAMPLES, log=lambda m: None)
    assert scores["images"] == 4
    assert scores["dsb_score"] >= SAMPLE_DSB_FLOOR
    assert scores["dsb_score"] > base["dsb_score"]  # better than Otsu on the same images


def test_fluorescence_sample_floor():
    model = load_model("nuclei")
    item = next(it for it in read_paired(SAMPLES) if it.id.startswith("fluorescence_"))
    image, truth = item.load()
    s = evaluate(truth, model.segment(image))
    assert s["dsb_score"] >= FLUO_DSB_FLOOR and s["ap50"] >= FLUO_AP50_FLOOR


def test_cells_model_on_a_validation_set():
    from cellseg.io.datasets import read_usiigaci
    item = read_usiigaci(shared("usiigaci", "set41"))[0]
    image, truth = item.load()
    s = evaluate(truth, load_model("cells").segment(image))
    assert s["ap50"] >= CELLS_AP50_FLOOR


def test_he_model_on_held_out_monuseg_patients():
    """H&E tissue: the 5 MoNuSeg images of patients the bundled he model never trained on
    (ids in its card), pooled F1@0.5 and mean PQ above floors."""
    from cellseg.io.datasets import open_dataset
    model = load_model("he")
    val_ids = set(model.card["training"]["val_ids"])
    pairs = [it.load() for it in open_dataset(shared("he", "monuseg_train")) if it.id in val_ids]
    assert len(pairs) == 5
    s = evaluate([truth for _, truth in pairs], [model.segment(image) for image, _ in pairs])
    assert s["f1_50"] >= HE_MONUSEG_F1_FLOOR and s["pq"] >= HE_MONUSEG_PQ_FLOOR
