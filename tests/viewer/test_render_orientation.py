"""Orientation maths (no rendering): grid-plane choice, screen directions and edge letters."""

from __future__ import annotations

import numpy as np
import pytest

from medlens.viewer.render.orientation import letters_for, orientation_labels, plane_axes


def rot_z(deg: float) -> np.ndarray:
    t = np.radians(deg)
    return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])


IDENTITY = np.eye(3)


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [
        ("axial", {"left": "R", "right": "L", "top": "A", "bottom": "P"}),
        ("coronal", {"left": "R", "right": "L", "top": "S", "bottom": "I"}),
        ("sagittal", {"left": "A", "right": "P", "top": "S", "bottom": "I"}),
    ],
)
def test_radiological_convention_identity(orientation, expected):
    assert orientation_labels(IDENTITY, orientation) == expected


def test_letters_ordered_by_magnitude_and_thresholded():
    assert letters_for((0.866, 0.5, 0.0)) == "LP"
    assert letters_for((-0.5, 0.866, 0.0)) == "PR"
    assert letters_for((0.1, -0.2, 0.97)) == "S"  # components < 0.25 are ignored
    assert letters_for((0.6, -0.6, 0.53)) == "LAS"


def test_oblique_30_degrees_about_s_gives_mixed_letters():
    d = rot_z(30)  # i -> (cos30, sin30, 0) = mostly L, some P
    axes = plane_axes(d, "axial")
    assert (axes.slice_axis, axes.u_axis, axes.v_axis) == (2, 0, 1)
    labels = axes.labels()
    assert labels == {"left": "RA", "right": "LP", "top": "AL", "bottom": "PR"}
    # the letters describe the actual on-screen directions
    assert np.allclose(axes.right, d[:, 0])
    assert np.allclose(axes.up, -d[:, 1])
    # sagittal pane of the same grid: screen right is +j = (-sin30, cos30, 0) -> "PR"
    assert orientation_labels(d, "sagittal")["right"] == "PR"


def test_grid_acquired_coronally_is_permuted():
    # typical coronal DICOM: rows run L, columns run I, slices run P
    d = np.column_stack([(1, 0, 0), (0, 0, -1), (0, 1, 0)]).astype(float)
    axial = plane_axes(d, "axial")
    assert axial.slice_axis == 1  # scrolling axial moves along j (the I-S grid axis)
    assert axial.labels() == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    coronal = plane_axes(d, "coronal")
    assert (coronal.slice_axis, coronal.u_axis, coronal.v_axis, coronal.v_sign) == (2, 0, 1, -1)
    assert coronal.labels()["top"] == "S"


def test_flipped_axes_keep_convention():
    d = np.diag([-1.0, -1.0, 1.0])  # RAS-like grid
    axes = plane_axes(d, "axial")
    assert (axes.u_sign, axes.v_sign) == (-1, 1)
    assert axes.labels() == {"left": "R", "right": "L", "top": "A", "bottom": "P"}


def test_2d_images_display_as_stored():
    d = np.column_stack([(1, 0, 0), (0, 0, -1), (0, 1, 0)]).astype(float)  # a PA chest film
    axes = plane_axes(d, "axial", is_2d=True)
    assert (axes.slice_axis, axes.u_axis, axes.u_sign, axes.v_axis, axes.v_sign) == (2, 0, 1, 1, -1)
    assert axes.labels() == {"left": "R", "right": "L", "top": "S", "bottom": "I"}


def test_bad_orientation():
    with pytest.raises(ValueError):
        plane_axes(IDENTITY, "oblique")
