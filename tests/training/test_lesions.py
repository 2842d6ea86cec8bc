"""The synthetic lesion generator and the noise models: shapes, sizes, placement, statistics."""

from __future__ import annotations

import numpy as np
import pytest

from medlens.training import lesions, noise


def _phantom_ct() -> tuple[np.ndarray, np.ndarray]:
    """A 'lung' (-850 HU) in soft tissue (40 HU): 12 slices of 5 mm, 1 mm pixels."""
    img = np.full((12, 120, 120), 40.0, np.float32)
    organ = np.zeros(img.shape, bool)
    organ[:, 20:100, 20:100] = True
    img[organ] = -850.0
    return img, organ


@pytest.mark.parametrize("radius", [3.0, 8.0, 20.0])
def test_lesion_size_matches_requested_radius(radius: float) -> None:
    rng = np.random.default_rng(0)
    vols = []
    for _ in range(6):
        *_, alpha = lesions.render_lesion((40, 160, 160), (1.0, 1.0, 1.0), (20, 80, 80), rng, radius)
        vols.append(float((alpha >= 0.5).sum()))
    equiv_r = (3 * np.median(vols) / (4 * np.pi)) ** (1 / 3)
    assert 0.6 * radius < equiv_r < 1.5 * radius  # irregular, elongated, but of the asked size


def test_insertion_stays_in_organ_and_changes_contrast() -> None:
    img, organ = _phantom_ct()
    before = img.copy()
    rng = np.random.default_rng(3)
    les = lesions.insert_lesion(img, organ, (1.0, 1.0, 5.0), "CT", rng, center=(6, 60, 60), radius_mm=10.0)
    assert les is not None and les.label.any()
    label = np.zeros(img.shape, bool)
    nz, ny, nx = les.label.shape
    label[les.z0 : les.z0 + nz, les.y0 : les.y0 + ny, les.x0 : les.x0 + nx] = les.label
    assert not (label & ~organ).any()  # never outside the organ
    changed = np.abs(img - before) > 1
    assert not (changed & ~organ).any()  # image untouched outside the organ
    assert img[label].mean() > -700  # a solid or sub-solid lesion is denser than lung
    # partial volume: some lesion voxels are neither lung nor fully lesion (soft edges / thick slices)
    assert ((les.alpha > 0.1) & (les.alpha < 0.9)).sum() > 0.1 * les.label.sum()


def test_lesion_touching_organ_border_is_clipped_there() -> None:
    img, organ = _phantom_ct()
    rng = np.random.default_rng(5)
    les = lesions.insert_lesion(img, organ, (1.0, 1.0, 5.0), "CT", rng, center=(6, 22, 60), radius_mm=12.0)
    assert les is not None
    rows = np.nonzero(les.label.any(axis=(0, 2)))[0] + les.y0
    assert rows.min() >= 20  # stops at the "pleura"


def test_mr_lesion_kinds_and_reference_contrast() -> None:
    kinds = set()
    for seed in range(12):
        img = np.full((10, 100, 100), 100.0, np.float32)
        organ = np.ones(img.shape, bool)
        les = lesions.insert_lesion(img, organ, (1.0, 1.0, 6.5), "MR", np.random.default_rng(seed),
                                    center=(5, 50, 50), reference=100.0, radius_mm=10.0)
        assert les is not None
        kinds.add(les.kind)
        sel = np.zeros(img.shape, bool)
        nz, ny, nx = les.label.shape
        sel[les.z0 : les.z0 + nz, les.y0 : les.y0 + ny, les.x0 : les.x0 + nx] = les.label
        vals = img[sel]
        if les.kind == "faint":  # a little brighter than the tissue it replaces
            assert 1.03 < vals.mean() / 100.0 < 1.4
        else:  # visibly different from the tissue: brighter / darker, or a bright rim around a dark core
            assert abs(vals.mean() - 100.0) > 8 or vals.std() > 15
    assert kinds == {"enhancing", "faint", "ring", "hypointense"}


def _mr_kinds(share: float | None, n: int = 40) -> list[str]:
    out = []
    for seed in range(n):
        img = np.full((10, 60, 60), 100.0, np.float32)
        les = lesions.insert_lesion(img, np.ones(img.shape, bool), (1.0, 1.0, 6.5), "MR",
                                    np.random.default_rng(seed), center=(5, 30, 30), reference=100.0,
                                    radius_mm=8.0, mr_faint_share=share)
        assert les is not None
        out.append(les.kind)
    return out


def test_mr_faint_share_sets_the_faint_kinds_share_and_the_default_is_the_old_mix() -> None:
    """``train.py --mr-faint-share``: the default (None) draws the members' mix exactly; a share of 0.2
    is the same cut points; 1.0 makes every MR lesion faint, 0.0 none."""
    assert lesions.mr_kind_cuts(0.2) == pytest.approx(lesions.MR_KIND_CUTS)
    assert _mr_kinds(None) == _mr_kinds(0.2)
    assert set(_mr_kinds(1.0, 10)) == {"faint"}
    assert "faint" not in _mr_kinds(0.0, 30)
    cuts = lesions.mr_kind_cuts(0.4)
    assert cuts[1] - cuts[0] == pytest.approx(0.4)
    # the other kinds keep their default ratios 0.3 : 0.25 : 0.25
    assert cuts[0] / (cuts[2] - cuts[1]) == pytest.approx(0.3 / 0.25)
    with pytest.raises(ValueError):
        lesions.mr_kind_cuts(1.5)


def test_mr_lesions_may_reach_a_few_mm_beyond_the_brain_ct_lesions_never_leave_the_lung() -> None:
    """Dural / extra-axial tumours sit partly outside a brain mask; a lung mass stops at the wall."""
    beyond = {"MR": [], "CT": []}
    for seed in range(30):
        for modality in ("MR", "CT"):
            img = np.full((10, 100, 100), 100.0 if modality == "MR" else -850.0, np.float32)
            organ = np.zeros(img.shape, bool)
            organ[:, :, :50] = True  # the organ ends at column 50
            les = lesions.insert_lesion(img, organ, (1.0, 1.0, 6.5), modality, np.random.default_rng(seed),
                                        center=(5, 50, 47), reference=100.0, radius_mm=10.0)
            assert les is not None
            cols = np.nonzero(les.label.any(axis=(0, 1)))[0] + les.x0
            beyond[modality].append(int(cols.max()) - 49)
    assert max(beyond["CT"]) <= 0
    assert 0.1 < np.mean(np.array(beyond["MR"]) > 0) < 0.6 and max(beyond["MR"]) <= 6


def test_generator_is_reproducible() -> None:
    a = lesions.render_lesion((20, 80, 80), (1.0, 1.0, 5.0), (10, 40, 40), np.random.default_rng(9), 8.0)[3]
    b = lesions.render_lesion((20, 80, 80), (1.0, 1.0, 5.0), (10, 40, 40), np.random.default_rng(9), 8.0)[3]
    np.testing.assert_array_equal(a, b)


def test_ct_noise_has_requested_sd_and_is_correlated() -> None:
    hu = np.zeros((1, 256, 256), np.float32)
    n = noise.ct_noise(hu, 40.0, np.random.default_rng(0), correlation_px=1.5, white_fraction=0.1)
    assert n.std() == pytest.approx(40.0, rel=0.05)
    c = np.corrcoef(n[0, :, :-1].ravel(), n[0, :, 1:].ravel())[0, 1]
    assert c > 0.2  # neighbouring pixels correlate, as after filtered back-projection


def test_rician_bias_in_background() -> None:
    img = np.zeros((200, 200), np.float32)
    out = noise.rician(img, 10.0, np.random.default_rng(0))
    assert out.mean() == pytest.approx(10.0 * np.sqrt(np.pi / 2), rel=0.05)  # Rayleigh mean
