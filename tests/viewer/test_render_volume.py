"""3D rendering and presets on the offscreen window."""

from __future__ import annotations

import time

import numpy as np
import pytest

from medlens.viewer.model import Geometry, Volume, VolumeMeta

pytestmark = pytest.mark.gui


@pytest.fixture
def window():
    from vtkmodules.vtkRenderingCore import vtkRenderWindow

    from medlens.viewer.render import _vtk_modules  # noqa: F401

    rw = vtkRenderWindow()
    rw.SetOffScreenRendering(1)
    rw.SetSize(128, 128)
    yield rw
    rw.Finalize()


def sphere(modality="CT") -> Volume:
    z, y, x = np.mgrid[:48, :48, :48]
    inside = (x - 24) ** 2 + (y - 24) ** 2 + (z - 24) ** 2 < 16**2
    if modality == "CT":
        a = np.where(inside, 1200, -1000).astype(np.int16)
        meta = VolumeMeta(modality="CT", units="HU")
    else:
        a = np.where(inside, 800.0, 20.0).astype(np.float32)
        meta = VolumeMeta(modality="MR")
    return Volume(a, Geometry(spacing=(1.0, 1.0, 1.5), origin=(-30, -40, 10)), meta)


def test_volume_rendering_non_blank_and_centred(window):
    from medlens.viewer.render import VolumeView, capture

    view = VolumeView(window)
    view.set_volume(sphere())
    assert view.mapper_kind == "cpu"  # software GL: the CPU ray caster is faster (see module doc)
    assert view.preset == "CT bone"
    img = capture(window).astype(int)
    assert img[64, 64].sum() > 200  # the sphere in the middle
    assert img[2, 2].sum() < 60  # background corner
    view.set_preset("CT soft tissue")
    assert capture(window).astype(int)[64, 64].sum() > 100
    with pytest.raises(ValueError):
        view.set_preset("PET")


def test_mr_preset_and_interactive_quality(window):
    from medlens.viewer.render import VolumeView, capture

    view = VolumeView(window)
    view.set_volume(sphere("MR"))
    assert view.preset == "MR"

    def frame_time() -> float:  # best of 3, so a busy machine does not decide the comparison
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            view.rotate(azimuth=10)
            times.append(time.perf_counter() - t0)
        return min(times)

    still = capture(window)
    t_still = frame_time()
    view.set_interactive(True)
    view.rotate(azimuth=0)
    sample = view.mapper.GetImageSampleDistance()
    assert view.interactive and sample == VolumeView.CPU_INTERACTIVE_IMAGE_SAMPLE
    t_inter = frame_time()
    fast = capture(window)
    assert fast[64, 64].sum() > 100 and still[64, 64].sum() > 100
    assert t_inter < t_still  # coarse frames are faster (3x3 pixels per ray, longer steps)
    view.set_interactive(False)
    view.render()
    assert not view.interactive and view.mapper.GetImageSampleDistance() == 1.0


def test_interactor_drives_quality(window):
    from vtkmodules.vtkRenderingCore import vtkRenderWindowInteractor

    from medlens.viewer.render import VolumeView

    iren = vtkRenderWindowInteractor()
    iren.SetRenderWindow(window)
    view = VolumeView(window, interactor=iren)
    assert iren.GetDesiredUpdateRate() == VolumeView.INTERACTIVE_UPDATE_RATE
    view.set_volume(sphere())
    window.SetDesiredUpdateRate(iren.GetDesiredUpdateRate())  # what a style does on button press
    view.render()
    assert view.interactive
    window.SetDesiredUpdateRate(iren.GetStillUpdateRate())
    view.render()
    assert not view.interactive


def test_2d_image_has_no_3d(window):
    from medlens.viewer.render import VolumeView, capture

    view = VolumeView(window)
    view.set_volume(Volume(np.zeros((1, 32, 32), np.uint16), Geometry(), VolumeMeta(is_2d=True)))
    assert not view.prop.GetVisibility()
    assert "2D image" in view.message.GetInput()
    assert capture(window).max() > 100


def test_3d_opens_from_the_front_with_patient_left_on_screen_right(window):
    from medlens.viewer.render import VolumeView, capture

    a = np.full((48, 48, 48), -1000, np.int16)
    a[10:38, 10:38, 36:44] = 1200  # a bone slab on the patient's left (+x)
    view = VolumeView(window)
    view.set_volume(Volume(a, Geometry(), VolumeMeta(modality="CT")))
    g = capture(window).astype(int).sum(axis=2)
    assert g[40:88, 72:120].mean() > 3 * g[40:88, 8:56].mean() + 10


def test_auto_mapper_deferred_until_first_frame(window, monkeypatch):
    from medlens.viewer.render import VolumeView, capture

    view = VolumeView(window)
    monkeypatch.setattr(view, "_can_choose_mapper_now", lambda: False)  # like a not-yet-shown widget
    view.auto_render = False
    view.set_volume(sphere())
    assert view.mapper is None
    img = capture(window).astype(int)  # the first frame queries GL and installs the mapper
    assert view.mapper_kind == "cpu" and view.mapper is not None
    assert img[64, 64].sum() > 200  # ...and draws with it in that same frame
