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
