"""The mid-sagittal mirror: the plane is found, the reflection is exact, and the crops carry it."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from medlens.training import lesion_data as L  # noqa: N812
from medlens.training import symmetry


def _symmetric_volume(angle: float, offset: float, shape: tuple[int, int, int] = (4, 96, 96)) -> np.ndarray:
    """A smooth random texture plus its own reflection about ``x cos a + y sin a = offset``: symmetric
    about that plane up to interpolation."""
    rng = np.random.default_rng(0)
    tex = ndimage.gaussian_filter(rng.standard_normal(shape), (0, 3, 3)).astype(np.float32)
    coords = symmetry.reflection_coords(shape, (1.0, 1.0, 6.0), angle, offset)
    return tex + ndimage.map_coordinates(tex, coords, order=1, mode="nearest")


def test_reflecting_twice_is_the_identity() -> None:
    shape = (2, 40, 50)
    c = symmetry.reflection_coords(shape, (0.8, 1.2, 5.0), np.deg2rad(7.0), 17.0)
    twice = np.stack([ndimage.map_coordinates(c[k], c, order=1) for k in range(3)])
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"))
    inside = (c[1] > 1) & (c[1] < shape[1] - 2) & (c[2] > 1) & (c[2] < shape[2] - 2)
    np.testing.assert_allclose(twice[:, inside], grid[:, inside], atol=1e-3)
    np.testing.assert_array_equal(c[0], grid[0])  # the plane is parallel to z: slices stay


def test_find_plane_recovers_a_turned_off_centre_plane() -> None:
    angle, offset = np.deg2rad(6.0), 42.0
    vol = _symmetric_volume(angle, offset)
    yy, xx = np.mgrid[:96, :96]
    mask = np.broadcast_to(((yy - 48) ** 2 / 35**2 + (xx - 44) ** 2 / 28**2) <= 1, vol.shape)
    found_angle, found_offset, corr = symmetry.find_plane(vol, (1.0, 1.0, 6.0), mask)
    assert abs(np.rad2deg(found_angle) - 6.0) <= 1.0
    assert abs(found_offset - offset) <= 1.0
    assert corr > 0.95
    naive = symmetry.reflection_coords(vol.shape, (1.0, 1.0, 6.0), 0.0, 47.5)
    assert symmetry.symmetry_score(vol, naive, mask) < corr - 0.2  # the image centre is not the plane


def _textured_ct() -> L.Anatomy:
    """Aerated "lung" with a texture symmetric about x = 31.5 (the middle of 64 columns)."""
    rng = np.random.default_rng(1)
    tex = ndimage.gaussian_filter(rng.standard_normal((6, 64, 64)), (0, 2, 2)).astype(np.float32)
    image = -850.0 + 300.0 * (tex + tex[:, :, ::-1])
    organ = np.zeros(image.shape, bool)
    organ[:, 12:52, 12:52] = True
    return L.Anatomy("phantom", "CT", image.astype(np.float32), (1.0, 1.0, 6.5), organ,
                     np.zeros(image.shape, bool), -1000.0, 400.0, 0.0, 0.0, body=np.ones(image.shape, bool))


def test_mirror_crops_add_the_reflected_centre_slice_and_draw_nothing_else() -> None:
    ct = _textured_ct()
    plain = L.CropSampler([ct], np.random.default_rng(3), crop=32, context=1, p_lesion=0.7)
    mirror = L.CropSampler([ct], np.random.default_rng(3), crop=32, context=1, p_lesion=0.7, mirror=True)
    one_sided = []
    for _ in range(30):
        a, b = plain.sample(), mirror.sample()
        assert b.image.shape == (4, 32, 32)
        np.testing.assert_array_equal(b.image[:3], a.image)  # the same crop, the same augmentation
        np.testing.assert_array_equal(b.label, a.label)
        lab = b.label > 0.5
        if lab.sum() >= 20:  # the synthetic lesion is in the image, not (there) in its reflection
            one_sided.append(float(b.image[1][lab].mean() - b.image[3][lab].mean()))
    assert len(one_sided) >= 5 and np.median(one_sided) > 0.05
    # lesion-free, unaugmented: the mirror of a symmetric phantom is the slice itself
    clean = L.CropSampler([ct], np.random.default_rng(4), crop=32, context=1, p_lesion=0.0, augment=False,
                          mirror=True)
    for _ in range(5):
        c = clean.sample()
        np.testing.assert_allclose(c.image[3], c.image[1], atol=0.02)


def test_mirror_signal_reads_a_one_sided_lesion_against_its_ring_and_its_mirror() -> None:
    """``mirror_signal.differences``: a disc 0.2 brighter than its surroundings reads +0.2 against its ring,
    and +0.2 against a mirror channel without it (0 against one with it); ``separation``'s AUC is 1 when
    the lesion differences all exceed the lesion-free ones and 0.5 when they are alike."""
    from pathlib import Path

    from medlens.training import studies

    signal = studies.script_module(Path(__file__).resolve().parents[2] / "plugins" / "lesion_seg"
                                   / "mirror_signal.py")
    yy, xx = np.mgrid[:40, :40]
    disc = ((yy - 20) ** 2 + (xx - 20) ** 2 <= 5**2).astype(np.float32)
    image = np.full((4, 40, 40), 0.3, np.float32)
    image[1] += 0.2 * disc
    ring, mirror = signal.differences(image, disc, 1)
    assert abs(ring - 0.2) < 1e-5 and abs(mirror - 0.2) < 1e-5
    image[3] += 0.2 * disc  # the lesion sits on the plane: its mirror shows it too
    assert abs(signal.differences(image, disc, 1)[1]) < 1e-5
    rng = np.random.default_rng(0)
    free = rng.normal(0, 0.03, (50, 2))
    auc = signal.separation(free + 1.0, free)
    assert auc == {"ring": 1.0, "mirror": 1.0, "both": 1.0}
    alike = signal.separation(rng.normal(0, 0.03, (400, 2)), rng.normal(0, 0.03, (400, 2)))
    assert all(abs(v - 0.5) < 0.1 for v in alike.values())
