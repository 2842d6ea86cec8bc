"""SliceView on an offscreen OSMesa window: what reaches the screen, read back with ``capture``."""

from __future__ import annotations

import numpy as np
import pytest

from medlens.viewer.model import Geometry, Volume, VolumeMeta

pytestmark = pytest.mark.gui

SIZE = 128
BRIGHT = 1000


@pytest.fixture
def window():
    from vtkmodules.vtkRenderingCore import vtkRenderWindow

    from medlens.viewer.render import _vtk_modules  # noqa: F401

    rw = vtkRenderWindow()
    rw.SetOffScreenRendering(1)
    rw.SetSize(SIZE, SIZE)
    yield rw
    rw.Finalize()


def make_volume(region: str, direction=None, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)):
    """64^3 volume, bright in one anatomical half (for identity direction: +x = L, -y = A, +z = S)."""
    a = np.zeros((64, 64, 64), np.int16)
    if region == "left":
        a[:, :, 32:] = BRIGHT
    elif region == "anterior":
        a[:, :32, :] = BRIGHT
    elif region == "superior":
        a[32:, :, :] = BRIGHT
    geometry = Geometry(spacing, origin, np.eye(3).ravel() if direction is None else np.ravel(direction))
    meta = VolumeMeta(modality="CT", units="HU", patient_name="DOE^JANE", patient_id="X1")
    return Volume(a, geometry, meta)


def show(rw, volume, orientation):
    from medlens.viewer.render import SliceView

    view = SliceView(rw, orientation)
    view.set_volume(volume)
    view.set_corner_text_visible(False)
    view.set_window(BRIGHT / 2, BRIGHT)  # 0 -> black, BRIGHT -> white
    return view


def halves(img):
    """Mean grey of the left/right/top/bottom halves of the central region (away from letters)."""
    g = img[..., 0].astype(float)
    c = slice(30, 98)
    return {
        "left": g[c, 20:58].mean(),
        "right": g[c, 70:108].mean(),
        "top": g[20:58, c].mean(),
        "bottom": g[70:108, c].mean(),
    }


def brighter(h, a, b):
    return h[a] > 200 and h[b] < 50


@pytest.mark.parametrize(
    ("orientation", "region", "bright_side", "dark_side"),
    [
        ("axial", "left", "right", "left"),  # patient left on screen right
        ("axial", "anterior", "top", "bottom"),
        ("coronal", "left", "right", "left"),
        ("coronal", "superior", "top", "bottom"),
        ("sagittal", "anterior", "left", "right"),  # anterior on the left
        ("sagittal", "superior", "top", "bottom"),
    ],
)
def test_radiological_convention_on_screen(window, orientation, region, bright_side, dark_side):
    from medlens.viewer.render import capture

    view = show(window, make_volume(region), orientation)
    h = halves(capture(window))
    assert brighter(h, bright_side, dark_side), h
    expected = {
        "axial": {"left": "R", "right": "L", "top": "A", "bottom": "P"},
        "coronal": {"left": "R", "right": "L", "top": "S", "bottom": "I"},
        "sagittal": {"left": "A", "right": "P", "top": "S", "bottom": "I"},
    }[orientation]
    assert view.orientation_labels == expected
    assert view.letters.actors["right"].GetInput() == expected["right"]


def test_oblique_volume_shows_grid_plane_with_true_letters(window):
    from medlens.viewer.render import capture

    t = np.radians(30)
    d = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    vol = make_volume("left", direction=d, origin=(-20.0, 5.0, 3.0))  # bright at high i
    view = show(window, vol, "axial")
    h = halves(capture(window))
    assert brighter(h, "right", "left"), h  # +i runs to screen right, no resampling
    assert view.orientation_labels == {"left": "RA", "right": "LP", "top": "AL", "bottom": "PR"}
    # the pixel under a display point is the voxel the geometry says is there
    r = view.readout(SIZE * 0.75, SIZE * 0.5)
    assert r is not None and r["value"] == BRIGHT
    assert np.allclose(vol.index_to_lps(r["ijk"]), r["voxel_lps"])
    assert np.all(np.abs(vol.lps_to_index(r["lps"]) - np.array(r["ijk"])) <= 0.5 + 1e-6)


def test_scrolling_changes_pixels_and_clamps(window):
    from medlens.viewer.render import capture

    a = (np.arange(64, dtype=np.int16)[:, None, None] * 15 * np.ones((1, 64, 64), np.int16)).astype(np.int16)
    view = show(window, Volume(a, Geometry(), VolumeMeta(modality="MR")), "axial")
    view.set_window(945 / 2, 945)
    view.set_slice(10)
    g10 = capture(window)[64, 64, 0]
    view.scroll(+20)
    assert view.slice_index == 30
    g30 = capture(window)[64, 64, 0]
    assert g30 > g10 + 50
    assert abs(int(g30) - 30 * 15 / 945 * 255) <= 10
    view.scroll(1000)
    assert view.slice_index == view.n_slices - 1 == 63
    view.set_slice(-5)
    assert view.slice_index == 0


def test_window_level_maps_centre_to_mid_grey(window):
    from medlens.viewer.render import capture

    a = np.full((8, 64, 64), 100, np.int16)
    view = show(window, Volume(a, Geometry(), VolumeMeta(modality="CT")), "axial")
    view.set_window(100, 200)
    assert view.window == (100.0, 200.0)
    assert abs(int(capture(window)[64, 64, 0]) - 128) <= 10
    view.set_window(0, 100)  # 100 is above the window: white
    assert capture(window)[64, 64, 0] >= 250
    view.set_window(300, 100)  # below: black
    assert capture(window)[64, 64, 0] <= 5


def test_readout_matches_geometry(window):
    vol = make_volume("left", spacing=(0.7, 0.9, 2.5), origin=(-100.0, 20.0, -50.0))
    vol.array[:] = np.arange(64, dtype=np.int16)[None, None, :]  # value = i
    view = show(window, vol, "axial")
    view.set_slice(17)
    for x, y in [(64, 64), (30, 90), (100, 20)]:
        r = view.readout(x, y)
        assert r is not None
        i, j, k = r["ijk"]
        assert k == 17
        assert r["value"] == vol.array[k, j, i] == i
        assert r["units"] == "HU"
        assert np.allclose(r["voxel_lps"], vol.geometry.index_to_lps(r["ijk"]))
        # the exact LPS point is on the slice plane and within the voxel
        cont = vol.geometry.lps_to_index(r["lps"])
        assert abs(cont[2] - 17) < 1e-6
        assert np.all(np.abs(cont - np.array(r["ijk"])) <= 0.5 + 1e-6)
        # and projects back to the same display pixel
        assert np.allclose(view.lps_to_display(r["lps"]), (x, y), atol=0.5)
    # screen right = +x (L): the voxel index grows to the right
    assert view.readout(100, 64)["ijk"][0] > view.readout(30, 64)["ijk"][0]
    # screen up = anterior = -y: the row index shrinks upwards
    assert view.readout(64, 100)["ijk"][1] < view.readout(64, 30)["ijk"][1]
    assert view.readout(2, 2) is None or view.volume.contains_index(view.readout(2, 2)["ijk"])


def test_cursor_moves_slice_and_draws_crosshair(window):
    from medlens.viewer.render import capture

    vol = make_volume("none")
    view = show(window, vol, "coronal")
    lps = vol.index_to_lps((20, 40, 50))
    view.set_cursor_lps(lps)
    assert view.slice_index == 40  # coronal scrolls along j (P)
    img = capture(window)
    x, y = view.lps_to_display(lps)
    row = SIZE - 1 - round(y)
    # a pixel on the horizontal crosshair line, away from the centre, is green
    col = round(x) + 15
    band = img[row - 1 : row + 2, col].astype(int)  # the 1-px line may straddle two rows
    assert band[:, 1].max() > 90 and (band[:, 1] - band[:, 0]).max() > 60, band
    view.clear_cursor()
    assert capture(window)[row - 1 : row + 2, col, 1].max() < 50


def test_zoom_pan_and_scale_bar(window):
    from medlens.viewer.render import capture

    view = show(window, make_volume("left"), "axial")
    capture(window)
    bar_mm = view.scale_bar.length_mm
    assert bar_mm > 0 and abs(view.scale_bar.length_px * view.scale_bar.mm_per_pixel() - bar_mm) < 1e-6
    view.zoom(2.0)
    assert view.zoom_factor == pytest.approx(2.0)
    capture(window)
    assert view.scale_bar.length_mm < bar_mm  # bar adapts to zoom
    view.reset_camera()
    # the bright/dark edge is at the centre; panning 20 px right moves it 20 px right
    edge0 = int(np.argmax(capture(window)[64, 15:110, 2] > 128))  # blue: not in the yellow letters
    view.pan(20, 0)
    edge1 = int(np.argmax(capture(window)[64, 15:110, 2] > 128))
    assert abs(edge1 - edge0 - 20) <= 1


def test_corner_text_toggle(window):
    from medlens.viewer.render import capture

    view = show(window, make_volume("none"), "axial")
    view.set_corner_text_visible(True)
    on = capture(window)
    assert "DOE^JANE" in view.corner_text.get(2)
    assert "slice 33/64" in view.corner_text.get(0)
    assert on[:20, :50].max() > 150  # name in the upper-left corner
    view.set_corner_text_visible(False)
    off = capture(window)
    assert off[:20, :50].max() < 50


def test_measurements_on_view(window):
    from medlens.viewer import measure
    from medlens.viewer.render import capture

    vol = make_volume("left", spacing=(0.5, 0.5, 2.0))
    view = show(window, vol, "axial")
    p, q = vol.index_to_lps((10, 20, 32)), vol.index_to_lps((50, 20, 32))
    ruler = view.add_ruler(p, q)
    assert ruler.distance_mm == pytest.approx(20.0)
    assert ruler.label_text == "20.0 mm"
    x, y = view.lps_to_display((p + q) / 2)
    px = capture(window)[SIZE - 1 - round(y), round(x)]
    assert px[0] > 200 and px[2] < 100, px  # yellow line
    centre = vol.index_to_lps((32, 32, 32))
    ellipse = view.add_ellipse(centre, (6.0, 4.0))
    expected = measure.ellipse_roi_stats(vol, "axial", 32, (32, 32, 32), (6.0, 4.0))
    assert ellipse.stats == expected
    assert "mean" in ellipse.label_text and "HU" in ellipse.label_text
    view.scroll(1)  # measurements belong to their slice
    assert not ruler.lines.actor.GetVisibility()
    ruler.remove()
    assert ruler not in view.measurements


def test_progressive_refresh(window):
    from medlens.viewer.render import capture

    a = np.zeros((16, 64, 64), np.int16)
    vol = Volume(a, Geometry(), VolumeMeta(modality="CT", complete=False))
    view = show(window, vol, "axial")
    assert capture(window)[64, 64, 0] < 5
    a[:] = BRIGHT  # the loader fills the same buffer
    view.refresh_data()
    assert capture(window)[64, 64, 0] > 250


def test_zero_copy_from_sitk():
    import SimpleITK as sitk

    from medlens.viewer.render import volume_to_vtk

    img = sitk.Image(32, 16, 8, sitk.sitkInt16)
    vol = Volume.from_sitk(img)
    vv = volume_to_vtk(vol)
    assert not vv.copied
    assert np.shares_memory(vv.flat, vol.array)
    from vtkmodules.util.numpy_support import vtk_to_numpy

    # what VTK reads is the SimpleITK image's own buffer
    assert np.shares_memory(vtk_to_numpy(vv.scalars), sitk.GetArrayViewFromImage(img))
    assert vv.image.GetDimensions() == (32, 16, 8)


def test_2d_image_degrades_gracefully(window):
    from vtkmodules.vtkRenderingCore import vtkRenderWindow

    from medlens.viewer.render import SliceView, capture

    a = np.zeros((1, 64, 64), np.uint16)
    a[:, :32, :] = 4000  # top rows bright
    vol = Volume(a, Geometry(), VolumeMeta(modality="DX", is_2d=True))
    view = SliceView(window, "axial")
    view.set_volume(vol)
    view.set_window(2000, 4000)
    h = halves(capture(window))
    assert brighter(h, "top", "bottom"), h  # shown as stored: row 0 at the top
    other = vtkRenderWindow()
    other.SetOffScreenRendering(1)
    other.SetSize(SIZE, SIZE)
    try:
        cor = SliceView(other, "coronal")
        cor.set_volume(vol)
        assert not cor.supported and cor.n_slices == 0
        assert "2D image" in cor.message.GetInput()
        cor.scroll(1)  # no-op, no error
        assert cor.readout(64, 64) is None
        assert capture(other).max() > 100  # the message is drawn
    finally:
        other.Finalize()


def test_default_interaction_wheel_and_window_drag(window):
    from vtkmodules.vtkRenderingCore import vtkRenderWindowInteractor

    from medlens.viewer.render import SliceView

    iren = vtkRenderWindowInteractor()
    iren.SetRenderWindow(window)
    view = SliceView(window, "axial", interactor=iren)
    view.set_volume(make_volume("left"))
    seen = []
    view.listeners.append(lambda v, what: seen.append(what))
    start = view.slice_index
    iren.SetEventInformation(64, 64)
    iren.InvokeEvent("MouseWheelForwardEvent")
    assert view.slice_index == start + 1 and "slice" in seen
    c, w = view.window
    iren.InvokeEvent("LeftButtonPressEvent")
    iren.SetEventInformation(84, 64)  # drag right: wider window
    iren.InvokeEvent("MouseMoveEvent")
    iren.InvokeEvent("LeftButtonReleaseEvent")
    assert view.window[1] > w and view.window[0] == c and "window" in seen
    view.interaction.enabled = False
    iren.InvokeEvent("MouseWheelForwardEvent")
    assert view.slice_index == start + 1
