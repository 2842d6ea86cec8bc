"""Offscreen screenshots for every layout."""

from __future__ import annotations

import numpy as np
import pytest

from medlens.viewer.model import Geometry, Volume, VolumeMeta

pytestmark = pytest.mark.gui


def volume() -> Volume:
    z, y, x = np.mgrid[:40, :48, :48]
    a = (np.where((x - 24) ** 2 + (y - 24) ** 2 + (z - 20) ** 2 < 14**2, 900, -900) + x * 5).astype(np.int16)
    return Volume(a, Geometry(spacing=(1.0, 1.0, 1.2)), VolumeMeta(modality="CT", units="HU"))


@pytest.mark.parametrize("layout", ["axial", "coronal", "sagittal", "3d", "quad"])
def test_screenshot_layouts(tmp_path, layout):
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOImage import vtkPNGReader

    from medlens.viewer.render import render_screenshot

    out = tmp_path / f"{layout}.png"
    rgb = render_screenshot(volume(), out, layout=layout, size=(160, 120))
    assert rgb.shape == (120, 160, 3) and rgb.dtype == np.uint8
    assert out.stat().st_size > 500
    assert rgb.std() > 10  # not blank
    reader = vtkPNGReader()
    reader.SetFileName(str(out))
    reader.Update()
    w, h, _ = reader.GetOutput().GetDimensions()
    png = vtk_to_numpy(reader.GetOutput().GetPointData().GetScalars()).reshape(h, w, -1)[::-1, :, :3]
    assert np.array_equal(png, rgb)  # PNG rows are the returned array's, top row first
    if layout == "quad":  # every quadrant has content
        for qy in (slice(0, 60), slice(60, 120)):
            for qx in (slice(0, 80), slice(80, 160)):
                assert rgb[qy, qx].std() > 5


def test_screenshot_with_window_and_bad_layout(tmp_path):
    from medlens.viewer.render import render_screenshot

    rgb = render_screenshot(volume(), tmp_path / "w.png", layout="axial", size=(64, 64), window=(0, 1))
    assert rgb[32, 16:48, 0].min() in (0, 255)  # a 1-HU window is binary
    with pytest.raises(ValueError):
        render_screenshot(volume(), tmp_path / "x.png", layout="mosaic")
