"""Measurement maths against brute-force numpy on the same voxels."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from medlens.viewer import measure
from medlens.viewer.model import Geometry, Volume, VolumeMeta
from medlens.viewer.render.orientation import plane_axes


def test_measure_does_not_import_vtk():
    import subprocess

    code = "import sys, medlens.viewer.measure; print(any(m.startswith('vtkmodules') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_distance_anisotropic_spacing():
    g = Geometry(spacing=(0.5, 0.8, 3.0), origin=(10.0, -4.0, 7.0))
    vol = Volume(np.zeros((4, 4, 4), np.int16), g)
    a, b = (0, 0, 0), (3, 2, 1)
    expected = np.sqrt((3 * 0.5) ** 2 + (2 * 0.8) ** 2 + (1 * 3.0) ** 2)
    assert measure.distance_between_indices(vol, a, b) == pytest.approx(expected)
    assert measure.distance_mm(g.index_to_lps(a), g.index_to_lps(b)) == pytest.approx(expected)
    assert measure.distance_mm((0, 0, 0), (3, 4, 0)) == pytest.approx(5.0)
    assert measure.format_distance(12.345) == "12.3 mm"


def brute_force(vol: Volume, orientation, slice_index, centre_ijk, radii):
    """Loop over every voxel of the slice; keep those whose centre is inside, in mm."""
    ax = plane_axes(vol.direction, orientation, vol.meta.is_2d)
    values = []
    nx, ny, nz = vol.shape_xyz
    for k in range(nz):
        for j in range(ny):
            for i in range(nx):
                ijk = (i, j, k)
                if ijk[ax.slice_axis] != slice_index:
                    continue
                du = (ijk[ax.u_axis] - centre_ijk[ax.u_axis]) * vol.spacing[ax.u_axis] / radii[0]
                dv = (ijk[ax.v_axis] - centre_ijk[ax.v_axis]) * vol.spacing[ax.v_axis] / radii[1]
                if du * du + dv * dv <= 1.0:
                    values.append(vol.array[k, j, i])
    return np.array(values, dtype=float)


@pytest.mark.parametrize("orientation", ["axial", "coronal", "sagittal"])
def test_ellipse_stats_match_numpy(orientation):
    rng = np.random.default_rng(1)
    a = rng.normal(40, 20, size=(20, 24, 28)).astype(np.float32)
    vol = Volume(a, Geometry(spacing=(0.7, 1.1, 2.0)), VolumeMeta(modality="CT"))
    centre = (13.3, 11.6, 9.2)
    radii = (5.0, 3.5)
    ax = plane_axes(vol.direction, orientation)
    s = round(centre[ax.slice_axis])
    stats = measure.ellipse_roi_stats(vol, orientation, s, centre, radii)
    ref = brute_force(vol, orientation, s, centre, radii)
    assert stats["n"] == ref.size > 5
    assert stats["mean"] == pytest.approx(ref.mean(), rel=1e-6)
    assert stats["sd"] == pytest.approx(ref.std(), rel=1e-6)
    assert stats["min"] == pytest.approx(ref.min())
    assert stats["max"] == pytest.approx(ref.max())
    assert stats["area_mm2"] == pytest.approx(np.pi * 5.0 * 3.5)
    pix = vol.spacing[ax.u_axis] * vol.spacing[ax.v_axis]
    assert stats["voxel_area_mm2"] == pytest.approx(ref.size * pix)
    assert "mean" in measure.format_stats(stats, "HU")


def test_ellipse_on_oblique_and_edge():
    t = np.radians(30)
    d = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    a = np.arange(10 * 12 * 14, dtype=np.int16).reshape(10, 12, 14)
    vol = Volume(a, Geometry(spacing=(1.0, 1.5, 2.0), direction=d.ravel()))
    centre = (0.2, 11.0, 4.0)  # clipped by the volume edge
    stats = measure.ellipse_roi_stats(vol, "axial", 4, centre, (3.0, 4.0))
    ref = brute_force(vol, "axial", 4, centre, (3.0, 4.0))
    assert stats["n"] == ref.size and stats["mean"] == pytest.approx(ref.mean())
    empty = measure.ellipse_roi_stats(vol, "axial", 4, (-50, -50, 4), (1.0, 1.0))
    assert empty["n"] == 0 and np.isnan(empty["mean"])
    with pytest.raises(IndexError):
        measure.ellipse_roi_stats(vol, "axial", 99, centre, (3.0, 4.0))
    with pytest.raises(ValueError):
        measure.ellipse_roi_stats(vol, "axial", 4, centre, (0.0, 4.0))
