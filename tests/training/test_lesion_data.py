"""Training crops: how MR crops are normalised (the brain where a whole-head T1 puts it)."""

from __future__ import annotations

import numpy as np

from medlens.training import lesion_data as L  # noqa: N812


def _anatomy(modality: str) -> L.Anatomy:
    """A skull-stripped-like MR (brain 0.7, nothing brighter than 1.0) or a CT in HU."""
    image = np.zeros((6, 64, 64), np.float32)
    organ = np.zeros(image.shape, bool)
    organ[:, 12:52, 12:52] = True
    image[organ] = 0.7 if modality == "MR" else -850.0
    lo, hi = (0.0, 1.0) if modality == "MR" else (-1000.0, 400.0)
    return L.Anatomy("phantom", modality, image, (1.0, 1.0, 6.5), organ, np.zeros(image.shape, bool),
                     lo, hi, 0.0, 0.7 if modality == "MR" else 0.0)


def test_mr_crops_put_the_brain_where_whole_head_t1_has_it() -> None:
    mr = _anatomy("MR")
    sampler = L.CropSampler([mr], np.random.default_rng(0), p_lesion=1.0, augment=False)
    lesion = mr.image[:2] * 1.8  # a lesion 1.8 x as bright as the brain
    brain_levels, lesion_levels = [], []
    for _ in range(200):
        state = sampler.rng.bit_generator.state
        brain_levels.append(float(sampler._normalize(mr, mr.image[:2])[0, 30, 30]))
        sampler.rng.bit_generator.state = state  # the same draw for the lesion
        lesion_levels.append(float(sampler._normalize(mr, lesion)[0, 30, 30]))
    brain = np.asarray(brain_levels)
    lo_ratio, hi_ratio = L.MR_HI_RATIO
    assert brain.min() >= 1 / hi_ratio - 1e-6 and brain.max() <= 1 / lo_ratio + 1e-6
    assert brain.max() - brain.min() > 0.3  # drawn per crop, not fixed per volume
    # with the volume's own percentiles the lesion saturates (what the network used to learn)...
    assert mr.normalize(lesion)[0, 30, 30] == 1.0
    # ...here it stays below 1 for most draws, above the brain always
    assert np.mean(np.asarray(lesion_levels) < 1.0) > 0.5
    assert np.all(np.asarray(lesion_levels) > brain)


def test_ct_crops_keep_the_volumes_own_percentiles() -> None:
    ct = _anatomy("CT")
    sampler = L.CropSampler([ct], np.random.default_rng(0), p_lesion=1.0, augment=False)
    np.testing.assert_array_equal(sampler._normalize(ct, ct.image), ct.normalize(ct.image))


def test_a_3d_patch_labels_every_slice_with_the_same_draws() -> None:
    """``volume_label``: label and weight for each slice of the slab (a 3D patch model); the centre
    slice's label is the one the slice-wise sampler gives for the same random draws."""
    ct = _anatomy("CT")
    ct.ignore[4, 30:34, 30:34] = True  # a "real lesion" on one slice: zero weight there only
    flat = L.CropSampler([ct], np.random.default_rng(5), crop=32, context=2, p_lesion=1.0, augment=False)
    slab = L.CropSampler([ct], np.random.default_rng(5), crop=32, context=2, p_lesion=1.0, augment=False,
                         volume_label=True)
    for _ in range(6):
        a, b = flat.sample(), slab.sample()
        assert a.label.shape == (32, 32) and b.label.shape == b.weight.shape == (5, 32, 32)
        np.testing.assert_array_equal(b.image, a.image)
        np.testing.assert_array_equal(b.label[2], a.label)
        np.testing.assert_array_equal(b.weight[2], a.weight)
    labelled = [int((slab.sample().label.sum(axis=(1, 2)) > 0).sum()) for _ in range(20)]
    assert max(labelled) >= 2  # lesions span slices: more than the centre is labelled


def test_the_3d_patch_unet_keeps_slices_and_pools_in_plane_only() -> None:
    import torch

    from medlens.training.nets import UNet3dAniso

    torch.manual_seed(0)
    net = UNet3dAniso(base=4).eval()
    for z in (1, 5, 7):
        x = torch.rand(2, 1, z, 32, 40)
        assert net(x).shape == (2, 1, z, 32, 40)
    x = torch.rand(1, 1, 5, 32, 32, requires_grad=True)
    net(x)[0, 0, 0, 16, 16].backward()  # the first slice's output sees the next slices (3D), in-plane far
    assert x.grad is not None and x.grad[0, 0, 1:4].abs().sum() > 0


def test_bright_negatives_are_centred_on_vessels_inside_the_organ() -> None:
    """``bright_share``: lesion-free crops centred on bright tissue inside the organ (a vessel in the
    lung field, an enhancing vein in the brain), never on the real lesion or outside the organ;
    without it they land there only by chance."""
    for modality, vessel, lesion in (("CT", 40.0, 60.0), ("MR", 1.2, 1.4)):
        a = _anatomy(modality)
        a.image[~a.organ] = a.image.min() if modality == "MR" else -1000.0  # air around the lungs
        a.image[:, 20:25, 20:25] = vessel  # bright tissue inside the organ: the look-alike
        a.image[:, 40:45, 40:45] = lesion  # the real lesion (excluded), equally bright
        a.ignore[:, 40:45, 40:45] = True
        a.image[:, 2:7, 2:7] = vessel  # bright, but outside the organ
        bright = L.organ_bright(a)
        assert bright[:, 20:25, 20:25].all() and bright.sum() == 6 * 25, modality

        def centred_on_vessel(sampler: L.CropSampler) -> list[bool]:
            crops = [sampler.sample().image[0] for _ in range(40)]  # 16 px: nothing else bright fits
            return [bool(c[8, 8] == c.max() and c.max() > c.min()) for c in crops]

        aimed = L.CropSampler([a], np.random.default_rng(1), crop=16, p_lesion=0.0, augment=False,
                              bright_share=1.0)
        assert all(centred_on_vessel(aimed)), modality
        plain = L.CropSampler([a], np.random.default_rng(1), crop=16, p_lesion=0.0, augment=False)
        assert np.mean(centred_on_vessel(plain)) < 0.3, modality


def test_a_crop_names_the_kind_of_its_synthetic_lesion() -> None:
    """``crop_kinds.py`` reports per kind: a crop must carry its lesion's kind, and none without one."""
    kinds = {"CT": {"solid", "subsolid", "necrotic"}, "MR": {"enhancing", "faint", "ring", "hypointense"}}
    for modality, known in kinds.items():
        a = _anatomy(modality)
        with_lesion = L.CropSampler([a], np.random.default_rng(3), crop=32, p_lesion=1.0, augment=False)
        seen = {c.kind for c in (with_lesion.sample() for _ in range(40)) if c.present}
        assert seen and seen <= known
        free = L.CropSampler([a], np.random.default_rng(3), crop=32, p_lesion=0.0, augment=False)
        assert all(free.sample().kind is None for _ in range(5))


def test_crop_kinds_measures_a_lesions_contrast_against_its_surroundings() -> None:
    """``crop_kinds.local_contrast``: a disc 30 % darker than the tissue around it reads -0.30 and falls in
    the top bin; the same disc drawn at the tissue's own value reads 0 (invisible, bottom bin), whatever
    lies further away."""
    from pathlib import Path

    from medlens.training import studies

    plugin = Path(__file__).resolve().parents[2] / "plugins" / "lesion_seg"
    ck = studies.script_module(plugin / "crop_kinds.py")
    yy, xx = np.mgrid[:40, :40]
    disc = (yy - 20) ** 2 + (xx - 20) ** 2 <= 36
    image = np.full((40, 40), 0.7, np.float32)
    image[:, :5] = 2.0  # a bright structure outside the ring does not count
    image[disc] = 0.49
    c = ck.local_contrast(image, disc.astype(np.float32))
    assert abs(c + 0.30) < 1e-5 and ck.contrast_bin(c) == ">=0.25"
    image[disc] = 0.7
    c = ck.local_contrast(image, disc.astype(np.float32))
    assert abs(c) < 1e-6 and ck.contrast_bin(c) == "<0.1"
    assert ck.contrast_bin(-0.12) == "0.1-0.25"
    assert ck.contrast_bin(ck.local_contrast(image, np.zeros_like(image))) == "unmeasured"  # no lesion


def test_per_crop_dice_weighs_a_small_lesion_as_much_as_a_large_one() -> None:
    """``train.loss_fn(dice="crop")``: missing a 4-pixel lesion beside a perfectly outlined 400-pixel one
    costs half the Dice term (one of two lesion crops), where the batch Dice hardly notices it; a
    lesion-free crop adds nothing to the Dice term; and with one lesion crop the two agree."""
    from pathlib import Path

    import torch
    import torch.nn.functional as F  # noqa: N812

    from medlens.training import studies

    train = studies.script_module(Path(__file__).resolve().parents[2] / "plugins" / "lesion_seg" / "train.py")
    y = torch.zeros(3, 1, 32, 32)
    y[0, 0, 4:24, 4:24] = 1  # 400 px, outlined
    y[1, 0, 10:12, 10:12] = 1  # 4 px, missed; crop 2 holds no lesion and none is predicted
    logits = torch.full_like(y, -20.0)
    logits[0] = torch.where(y[0] > 0, 20.0, -20.0)
    w = torch.ones_like(y)
    bce = float(F.binary_cross_entropy_with_logits(logits, y))
    batch_dice = float(train.loss_fn(logits, y, w)) - bce
    crop_dice = float(train.loss_fn(logits, y, w, dice="crop")) - bce
    assert batch_dice < 0.01
    assert abs(crop_dice - 0.5 * (1 - 1 / 5)) < 1e-3  # the missed crop: 1 - 1 / (0 + 4 + 1); crop 0: ~0
    mix = float(train.loss_fn(logits, y, w, dice="mix")) - bce
    assert abs(mix - 0.5 * (batch_dice + crop_dice)) < 1e-5
    clean = float(train.loss_fn(logits, y, w, dice="crop_all")) - bce
    assert abs(clean - (0.8 + 0) / 3) < 1e-3  # nothing predicted on the lesion-free crop: no cost
    logits[2, 0, :5, :5] = 20.0  # 25 false pixels there
    fa = float(train.loss_fn(logits, y, w, dice="crop_all"))
    assert abs(fa - float(F.binary_cross_entropy_with_logits(logits, y)) - (0.8 + 1 - 1 / 26) / 3) < 1e-3
    one = slice(0, 1)
    assert abs(float(train.loss_fn(logits[one], y[one], w[one], dice="crop"))
               - float(train.loss_fn(logits[one], y[one], w[one]))) < 1e-6


def test_input_pilot_matches_a_candidates_threshold_to_the_current_false_alarms() -> None:
    """``input_pilot`` round 3: a crop alarms with >= 10 counted pixels above the threshold (pixels on a real
    lesion do not count); the matched threshold is the lowest grid value whose alarm share is no higher
    than the target, and there is none when even 0.999 alarms too often."""
    from pathlib import Path

    from medlens.training import studies

    plugin = Path(__file__).resolve().parents[2] / "plugins" / "lesion_seg"
    faint = studies.script_module(plugin / "faint_pilot.py")
    pilot = studies.script_module(plugin / "input_pilot.py")
    prob = np.zeros((4, 8, 8), np.float32)
    prob[0, :2, :5] = 0.9  # 10 px at 0.9: alarms up to 0.89
    prob[1, :2, :5] = 0.7  # 10 px at 0.7
    prob[2, :3, :4] = 0.95  # 12 px at 0.95, but 3 of them on a real lesion
    counted = np.ones_like(prob, bool)
    counted[2, 0, :3] = False
    assert faint.alarm_share(prob, counted) == 0.5
    assert faint.alarm_share(prob, counted, 0.75) == 0.25
    assert pilot.matched_threshold(prob, counted, 0.25, faint.alarm_share) == 0.7
    assert pilot.matched_threshold(prob, counted, 0.0, faint.alarm_share) == 0.9
    prob[3] = 1.0
    assert pilot.matched_threshold(prob, counted, 0.0, faint.alarm_share) is None


def test_vary_anatomy_warps_image_and_label_together() -> None:
    """``vary_anatomy``: a bright disc and its label are displaced alike (they still overlap almost fully,
    though the disc has moved), weights stay 0/1, CT intensities are only resampled (no shading), and MR
    is shaded by at most a smooth factor of a few tens of per cent."""
    yy, xx = np.mgrid[:96, :96]
    disc = ((yy - 48) ** 2 + (xx - 48) ** 2 <= 15**2).astype(np.float32)
    img = np.stack([disc * 0.8 + 0.1] * 3).astype(np.float32)
    wgt = np.ones_like(disc)
    wgt[:10] = 0
    moved = 0
    for seed in range(6):
        for modality in ("CT", "MR"):
            out, lab, w = L.vary_anatomy(img, disc, wgt, modality, np.random.default_rng(seed))
            bright = out[1] > 0.5 * (out[1].max() + out[1].min())
            dice = 2 * (bright & (lab > 0)).sum() / (bright.sum() + (lab > 0).sum())
            assert dice > 0.9
            assert set(np.unique(w)) <= {0.0, 1.0} and set(np.unique(lab)) <= {0.0, 1.0}
            moved += int((lab != disc).sum() > 0)
            inside = out[:, 30:66, 30:66]
            if modality == "CT":
                assert inside.max() <= 0.9 + 1e-5
            else:
                assert inside.max() < 0.9 * 1.5
    assert moved >= 10
