"""Label map / heatmap overlays and 3D label surfaces: what reaches the screen, read back with ``capture``.

Set-up: a 64^3 black volume on an identity grid shown 1:1-ish in a 128 px window (2 px per voxel),
corner text off. The axial pane shows patient right on screen left (radiological), so column index
``i`` maps to screen x growing left-to-right and row index ``j`` to screen y top-to-bottom (A at the
top). Pixel positions are found through ``lps_to_display``, never hard-coded.
"""

from __future__ import annotations

import numpy as np
import pytest

from medlens.viewer.model import Geometry, Heatmap, Label, LabelMap, Volume, VolumeMeta

pytestmark = pytest.mark.gui

SIZE = 128
RED = (255, 0, 0)
GREEN = (0, 255, 0)


@pytest.fixture
def rw():
    from vtkmodules.vtkRenderingCore import vtkRenderWindow

    from medlens.viewer.render import _vtk_modules  # noqa: F401

    w = vtkRenderWindow()
    w.SetOffScreenRendering(1)
    w.SetSize(SIZE, SIZE)
    yield w
    w.Finalize()


@pytest.fixture
def volume() -> Volume:
    geometry = Geometry((1.0, 1.0, 1.0), (-32.0, -32.0, 0.0))
    return Volume(np.zeros((64, 64, 64), np.int16), geometry, VolumeMeta(modality="CT", units="HU"))


@pytest.fixture
def view(rw, volume):
    from medlens.viewer.render import SliceView

    v = SliceView(rw, "axial")
    v.set_volume(volume)
    v.set_corner_text_visible(False)
    v.set_window(500, 1000)
    v.set_slice(20)
    yield v
    v.dispose()


def square_labels(volume: Volume) -> LabelMap:
    """Label 1 (red): a 16x16 square on slice 20; label 2 (green): an 8x8 square beside it."""
    a = np.zeros(volume.array.shape, np.uint8)
    a[20, 12:28, 12:28] = 1
    a[20, 40:48, 40:48] = 2
    return LabelMap(a, volume.geometry, [Label(1, "one", RED), Label(2, "two", GREEN)], "test")


def pixel(img: np.ndarray, view, volume: Volume, ijk) -> np.ndarray:
    """RGB at the screen position of voxel centre ``ijk`` (top-row-first image)."""
    x, y = view.lps_to_display(volume.index_to_lps(ijk))
    return img[SIZE - 1 - round(y), round(x)].astype(int)


def mask_on_screen(img: np.ndarray, color: tuple[int, int, int], tol: int = 40) -> np.ndarray:
    return (np.abs(img.astype(int) - np.array(color)) <= tol).all(axis=2)


def expected_screen_mask(view, volume: Volume, a2d: np.ndarray) -> np.ndarray:
    """Screen pixels whose voxel (on the shown slice) is set in ``a2d`` (y, x)."""
    out = np.zeros((SIZE, SIZE), bool)
    for sy in range(SIZE):
        for sx in range(SIZE):
            lps = view.display_to_lps(sx, SIZE - 1 - sy)
            if lps is None:
                continue
            i, j, _ = np.floor(volume.lps_to_index(lps) + 0.5).astype(int)
            if 0 <= i < a2d.shape[1] and 0 <= j < a2d.shape[0]:
                out[sy, sx] = a2d[j, i]
    return out


def test_label_colour_exactly_where_the_mask_is(view, volume):
    from medlens.viewer.render import capture

    lm = square_labels(volume)
    view.set_label_map(lm, opacity=1.0)
    view.set_legend_visible(False)
    img = capture(view.render_window)
    red = mask_on_screen(img, RED)
    expected = expected_screen_mask(view, volume, lm.array[20] == 1)
    # exact up to the one-pixel seam where a voxel edge falls between screen pixels
    disagree = red ^ expected
    assert expected.sum() > 800
    assert disagree.sum() <= 0.08 * expected.sum(), (red.sum(), expected.sum(), disagree.sum())
    assert (pixel(img, view, volume, (20, 20, 20)) == RED).all()
    assert (pixel(img, view, volume, (44, 44, 20)) == GREEN).all()
    assert pixel(img, view, volume, (35, 20, 20)).max() < 20  # outside: the black image


def test_label_only_on_its_slice_and_opacity_blends(view, volume):
    from medlens.viewer.render import capture

    view.set_label_map(square_labels(volume), opacity=1.0)
    view.set_slice(21)
    img = capture(view.render_window)
    assert pixel(img, view, volume, (20, 20, 21)).max() < 20
    view.set_slice(20)
    view.set_label_opacity(0.5)
    r, g, b = pixel(capture(view.render_window), view, volume, (20, 20, 20))
    assert 100 < r < 160 and g < 20 and b < 20  # half red over black


def test_outline_mode_leaves_the_interior_uncoloured(view, volume):
    from medlens.viewer.render import capture

    lm = square_labels(volume)
    view.set_label_map(lm, opacity=1.0, outline=True, fill=False)
    img = capture(view.render_window)
    assert (pixel(img, view, volume, (12, 20, 20)) == RED).all()  # the left edge column
    assert (pixel(img, view, volume, (27, 20, 20)) == RED).all()  # the right edge column
    assert pixel(img, view, volume, (20, 20, 20)).max() < 20  # inside: not coloured
    assert pixel(img, view, volume, (16, 20, 20)).max() < 20
    # fill + outline: inside at the fill opacity, the edge opaque
    view.set_label_map(lm, opacity=0.4, outline=True, fill=True)
    img = capture(view.render_window)
    assert (pixel(img, view, volume, (12, 20, 20)) == RED).all()
    assert 60 < pixel(img, view, volume, (20, 20, 20))[0] < 140


def test_hidden_label_disappears_and_comes_back(view, volume):
    from medlens.viewer.render import capture

    view.set_label_map(square_labels(volume), opacity=1.0)
    view.set_label_visible(1, False)
    img = capture(view.render_window)
    assert pixel(img, view, volume, (20, 20, 20)).max() < 20
    assert (pixel(img, view, volume, (44, 44, 20)) == GREEN).all()  # the other label stays
    view.set_label_visible(1, True)
    assert (pixel(capture(view.render_window), view, volume, (20, 20, 20)) == RED).all()


def test_heatmap_threshold_hides_low_values(view, volume):
    from medlens.viewer.render import capture

    ramp = np.broadcast_to(np.linspace(0, 1, 64, dtype=np.float32), volume.array.shape)
    hm = Heatmap(np.ascontiguousarray(ramp), volume.geometry, "ramp", "probability")
    view.set_heatmap(hm, "inferno", opacity=1.0, threshold=0.5)
    view.set_legend_visible(False)
    img = capture(view.render_window)
    low = pixel(img, view, volume, (10, 32, 20))  # value ~0.16 < 0.5: transparent -> black
    high = pixel(img, view, volume, (58, 32, 20))  # value ~0.92: bright inferno yellow
    assert low.max() < 20
    assert high[0] > 200 and high[1] > 150
    view.set_heatmap_threshold(None)  # without a threshold even low values are coloured
    low = pixel(capture(view.render_window), view, volume, (20, 32, 20))
    assert low.max() > 40


def test_update_label_map_after_in_place_edit(view, volume):
    from medlens.viewer.render import capture

    lm = square_labels(volume)
    view.set_label_map(lm, opacity=1.0, outline=True, fill=True)
    assert pixel(capture(view.render_window), view, volume, (50, 10, 20)).max() < 20
    lm.array[20, 8:12, 48:52] = 1  # a brush dab where nothing was
    box = (slice(20, 21), slice(8, 12), slice(48, 52))
    view.update_label_map(box)
    assert (pixel(capture(view.render_window), view, volume, (50, 10, 20)) == RED).all()
    lm.array[20, 8:12, 48:52] = 0  # erase it again, whole-volume refresh
    view.update_label_map()
    assert pixel(capture(view.render_window), view, volume, (50, 10, 20)).max() < 20
    # an edit on another slice leaves this one alone (and draws nothing)
    lm.array[30, 8:12, 48:52] = 2
    view.update_label_map((slice(30, 31), slice(8, 12), slice(48, 52)))
    view.set_slice(30)
    assert (pixel(capture(view.render_window), view, volume, (50, 10, 30)) == GREEN).all()


def test_label_map_is_zero_copy_and_grid_checked(view, volume):
    lm = square_labels(volume)
    view.set_label_map(lm)
    layer = view.overlays.labels
    assert np.shares_memory(layer.vtk.flat, lm.array)
    assert view.label_map is lm
    bad = LabelMap(np.zeros((4, 64, 64), np.uint8), volume.geometry)
    with pytest.raises(ValueError, match="differs"):
        view.set_label_map(bad)
    view.set_label_map(None)
    assert view.label_map is None


def test_3d_surfaces_show_the_label_colour(rw, volume):
    from medlens.viewer.render import VolumeView, capture

    a = np.zeros(volume.array.shape, np.uint8)
    z, y, x = np.indices(a.shape)
    a[(z - 32) ** 2 + (y - 32) ** 2 + (x - 20) ** 2 < 100] = 1
    a[(z - 32) ** 2 + (y - 32) ** 2 + (x - 46) ** 2 < 64] = 2
    lm = LabelMap(a, volume.geometry, [Label(1, "one", RED), Label(2, "two", GREEN)])
    view = VolumeView(rw)
    try:
        view.set_volume(volume)  # all-zero CT: the ray-cast volume is transparent
        view.set_label_surfaces(lm)
        img = capture(rw).astype(int)
        reddish = (img[..., 0] > 80) & (img[..., 0] > 2 * img[..., 1]) & (img[..., 0] > 2 * img[..., 2])
        greenish = (img[..., 1] > 80) & (img[..., 1] > 2 * img[..., 0]) & (img[..., 1] > 2 * img[..., 2])
        assert reddish.sum() > 200 and greenish.sum() > 100
        # anterior view, patient left (+x) on screen right: label 2 (x=46) right of label 1
        assert np.nonzero(greenish)[1].mean() > np.nonzero(reddish)[1].mean()
        view.set_label_surface_visible(1, False)
        img = capture(rw).astype(int)
        reddish = (img[..., 0] > 80) & (img[..., 0] > 2 * img[..., 1]) & (img[..., 0] > 2 * img[..., 2])
        assert reddish.sum() < 10
        view.set_label_surfaces(None)
        assert not view.label_surfaces.actors
    finally:
        view.dispose()


def test_legend_lists_visible_labels(view, volume):
    view.set_label_map(square_labels(volume))
    legend = view.overlays.legend
    assert legend.labels.GetNumberOfEntries() == 2 and legend.labels.GetVisibility()
    view.set_label_visible(2, False)
    assert legend.labels.GetNumberOfEntries() == 1
    assert not legend.bar.GetVisibility()
    hm = Heatmap(np.zeros(volume.array.shape, np.float32), volume.geometry, "u", "uncertainty")
    view.set_heatmap(hm, threshold=0.1)
    assert legend.bar.GetVisibility()
