"""Resampling there and back keeps geometry exactly; intensity schemes do what the manifest says."""

from __future__ import annotations

import numpy as np
import pytest

from medlens.inference.manifest import Normalization
from medlens.inference.postprocess import (
    argmax_labels,
    grow_region,
    keep_largest_component,
    select_component,
    threshold_labels,
)
from medlens.inference.preprocess import (
    denormalize_intensity,
    normalize_intensity,
    resample_to_model,
    resample_to_source,
)
from medlens.viewer.model import Geometry, Volume


def oblique_volume() -> Volume:
    angle = np.deg2rad(12)
    c, s = np.cos(angle), np.sin(angle)
    direction = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])  # columns: x, y, z axes in LPS
    z, y, x = np.indices((18, 30, 26), dtype=np.float32)
    array = (np.sin(x / 6) + np.cos(y / 7) + z / 10).astype(np.float32)
    return Volume(array, Geometry((0.8, 0.9, 2.5), (-40.0, 12.5, 7.0), direction.ravel()))


def test_resample_there_and_back_keeps_geometry_exactly() -> None:
    vol = oblique_volume()
    model_array, grid = resample_to_model(vol, spacing=(1.5, 1.5, 1.5), orientation="RAS")
    assert grid.model.spacing == (1.5, 1.5, 1.5)
    assert model_array.shape != vol.array.shape
    back = resample_to_source(model_array, grid)
    assert back.shape == vol.array.shape
    assert grid.source == vol.geometry  # results are stamped with exactly this geometry
    interior = (slice(3, -3), slice(4, -4), slice(4, -4))
    assert np.abs(back[interior] - vol.array[interior]).mean() < 0.05


def test_labels_come_back_with_nearest_neighbour() -> None:
    vol = oblique_volume()
    labels_src = np.zeros(vol.array.shape, np.uint8)
    labels_src[4:14, 8:22, 6:20] = 3
    labels_src[6:10, 10:14, 8:12] = 7
    _, grid = resample_to_model(vol, spacing=(1.0, 1.0, 1.0))
    import SimpleITK as sitk

    from medlens.viewer.model import array_to_sitk

    on_model = sitk.GetArrayFromImage(
        sitk.Resample(
            array_to_sitk(labels_src, vol.geometry),
            [int(s) for s in grid.model_shape[::-1]],
            sitk.Transform(),
            sitk.sitkNearestNeighbor,
            grid.model.origin,
            grid.model.spacing,
            grid.model.direction,
        )
    )
    back = resample_to_source(on_model, grid, is_label=True)
    assert back.dtype == np.uint8 and set(np.unique(back)) <= {0, 3, 7}
    assert (back == labels_src).mean() > 0.97


def test_identity_grid_is_a_no_copy_pass_through() -> None:
    vol = oblique_volume()
    array, grid = resample_to_model(vol, spacing=vol.geometry.spacing)
    assert array is vol.array and grid.is_identity
    assert resample_to_source(array, grid) is array


def test_2d_models_keep_the_slice_spacing() -> None:
    vol = oblique_volume()
    _, grid = resample_to_model(vol, spacing=(1.2, 1.2, 9.0), keep_z_spacing=True)
    assert grid.model.spacing == (1.2, 1.2, 2.5) and grid.model_shape[0] == 18


@pytest.mark.parametrize(
    ("norm", "values", "expected"),
    [
        (
            Normalization(kind="ct_window", window=(-100, 300)),
            [-1000, -100, 100, 300, 2000],
            [0, 0, 0.5, 1, 1],
        ),
        (Normalization(kind="ct_window", window=(0, 100), value_range=(-1, 1)), [0, 50, 100], [-1, 0, 1]),
        (Normalization(kind="zscore"), [1, 2, 3], [-1.2247449, 0, 1.2247449]),
        (Normalization(kind="percentile", percentiles=(0, 100)), [10, 20, 30], [0, 0.5, 1]),
        (Normalization(kind="none"), [5, 6], [5, 6]),
    ],
)
def test_normalize_intensity(norm: Normalization, values: list[float], expected: list[float]) -> None:
    out, imap = normalize_intensity(np.asarray(values, np.float32), norm)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    inside = (np.asarray(values) >= imap.low) & (np.asarray(values) <= imap.high)
    np.testing.assert_allclose(
        denormalize_intensity(out, imap)[inside], np.asarray(values)[inside], atol=1e-4
    )


def test_zscore_over_nonzero_voxels() -> None:
    out, _ = normalize_intensity(
        np.array([0, 0, 2, 4], np.float32), Normalization(kind="zscore", nonzero=True)
    )
    np.testing.assert_allclose(out, [-3, -3, -1, 1], atol=1e-6)


def test_label_steps() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6]], np.float32)[:, :, None]  # (C, 3, 1)
    assert argmax_labels(probs, [4, 9])[:, 0].tolist() == [0, 4, 9]
    sig = np.array([[0.9, 0.2, 0.6], [0.1, 0.4, 0.8]], np.float32)
    assert threshold_labels(sig, 0.5, [2, 5]).tolist() == [2, 0, 5]
    labels = np.zeros((10, 10), np.uint8)
    labels[1:5, 1:5] = 1
    labels[7, 7] = 1
    labels[8:10, 0:2] = 2
    cleaned = keep_largest_component(labels)
    assert cleaned[7, 7] == 0 and cleaned[2, 2] == 1 and (cleaned == 2).sum() == 4


def test_select_component_rules() -> None:
    """A big lukewarm region beside a small confident one: size keeps the big one, the probability
    rules the confident one; mean ignores a lone confident voxel (speckle)."""
    labels = np.zeros((1, 20, 20), np.uint8)
    prob = np.zeros(labels.shape, np.float32)
    labels[0, 0:8, 0:8] = 1  # 64 voxels at 0.55: mass 35.2
    prob[0, 0:8, 0:8] = 0.55
    labels[0, 12:18, 12:18] = 1  # 36 voxels at 0.99: mass 35.6
    prob[0, 12:18, 12:18] = 0.99
    labels[0, 19, 0] = 1  # one voxel at 1.0
    prob[0, 19, 0] = 1.0
    kept = {r: select_component(labels, prob, r) for r in ("size", "mass", "mean", "peak")}
    assert kept["size"][0, 2, 2] == 1 and kept["size"].sum() == 64
    assert kept["mass"][0, 14, 14] == 1 and kept["mass"].sum() == 36
    assert kept["mean"][0, 14, 14] == 1 and kept["mean"].sum() == 36
    assert kept["peak"][0, 19, 0] == 1 and kept["peak"].sum() == 1
    np.testing.assert_array_equal(kept["size"], keep_largest_component(labels))
    with pytest.raises(ValueError, match="probability"):
        select_component(labels, None, "mean")


def test_peak_rule_breaks_a_saturated_tie_by_mass_not_label_order() -> None:
    """Three regions whose best voxel is exactly 1.0 (a saturated float32 sigmoid): the peak rule keeps
    the one with the most summed probability, whatever its slice; a unique peak still wins alone."""
    labels = np.zeros((9, 12, 12), np.uint8)
    prob = np.zeros(labels.shape, np.float32)
    labels[0:2, 0:3, 0:3] = 1  # first in label order (lowest slice): 18 voxels, mass 9.5
    prob[0:2, 0:3, 0:3] = 0.5
    prob[0, 0, 0] = 1.0
    labels[4:7, 5:10, 5:10] = 1  # 75 voxels at 0.9 with one at 1.0: mass 67.6
    prob[4:7, 5:10, 5:10] = 0.9
    prob[5, 7, 7] = 1.0
    labels[8, 0:4, 8:12] = 1  # 16 voxels, all 1.0: mass 16
    prob[8, 0:4, 8:12] = 1.0
    kept = select_component(labels, prob, "peak", 1)
    assert kept.sum() == 75 and kept[5, 7, 7] == 1
    prob[5, 7, 7] = 0.95  # no longer tied: the top two are the 18- and 16-voxel regions
    kept = select_component(labels, prob, "peak", 1)
    assert kept.sum() == 16 and kept[8, 0, 8] == 1
    prob[8, 0:4, 8:12] = 0.99  # a unique peak is kept however little mass it has
    assert select_component(labels, prob, "peak", 1).sum() == 18


def test_grow_region_joins_the_pieces_of_a_split_lesion() -> None:
    """A lesion whose probability dips to 0.3 on its middle slice comes out of the 0.5 threshold as two
    pieces; keeping the most confident piece and growing it through voxels >= 0.2 reports it whole,
    without reaching a separate region across background, or a voxel of another label."""
    prob = np.zeros((7, 20, 20), np.float32)
    prob[1:3, 5:10, 5:10] = 0.9  # upper piece
    prob[3, 5:10, 5:10] = 0.3  # the dip
    prob[4:6, 5:10, 5:10] = 0.7  # lower piece
    prob[1:6, 14:18, 14:18] = 0.6  # another region, not connected
    labels = (prob > 0.5).astype(np.uint8)
    labels[3, 9, 9] = 2  # a voxel of another label inside the dip
    kept = select_component(labels, prob, "peak", 1)
    assert kept[1:3, 5:10, 5:10].all() and not kept[4:6].any()
    grown = grow_region(kept, prob, 0.2, 1)
    lesion = np.zeros(prob.shape, bool)
    lesion[1:6, 5:10, 5:10] = True
    assert ((grown == 1) == (lesion & (labels != 2))).all()
    assert grown[3, 9, 9] == 2  # other labels are never overwritten
    np.testing.assert_array_equal(grow_region(kept, prob, 0.5, 1), kept)  # nothing above 0.5 to join
    assert not grow_region(np.zeros_like(labels), prob, 0.2, 1).any()  # no region, nothing grows
