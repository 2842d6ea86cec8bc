"""3D surfaces of a label map, one coloured actor per label, for the 3D pane.

Pipeline and why
----------------
Per label: the label's bounding box (found from per-axis projections of ``array == value``) is
cropped out with one voxel of background around it, so ``vtkDiscreteFlyingEdges3D`` runs on a few
thousand voxels for a nodule instead of the whole CT, and the surface is closed even where the label
touches the grid edge. ``vtkWindowedSincPolyDataFilter`` then removes the voxel staircase without
shrinking the surface (Taubin-style, unlike Laplacian smoothing), and ``vtkPolyDataNormals`` gives
smooth shading. The actor's ``UserMatrix`` carries origin + direction (see :mod:`.vtk_bridge`), so
surfaces sit exactly where the volume rendering and the slice panes put the label.

:func:`build_label_surfaces` is pure data processing (no renderer): the app runs it on a worker
thread and hands the polydata to :meth:`LabelSurfaces.set_surfaces` on the GUI thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPolyData
from vtkmodules.vtkFiltersCore import vtkPolyDataNormals, vtkWindowedSincPolyDataFilter
from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer

from ..model import Geometry, LabelMap
from .colormaps import label_color
from .vtk_bridge import grid_to_lps_matrix


@dataclass(eq=False)
class LabelSurface:
    """One label's smoothed surface in the grid frame (spacing applied; origin/direction not)."""

    value: int
    name: str
    color: tuple[int, int, int]
    polydata: vtkPolyData
    geometry: Geometry


def _bbox(mask_any: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[tuple[int, int]]:
    out = []
    for proj in mask_any:
        idx = np.flatnonzero(proj)
        out.append((int(idx[0]), int(idx[-1]) + 1))
    return out


def label_surface(
    array: np.ndarray, value: int, geometry: Geometry, smoothing_iterations: int = 15
) -> vtkPolyData:
    """The smoothed surface of ``array == value`` in the grid frame (empty polydata if absent)."""
    mask = array == value
    proj = (mask.any(axis=(1, 2)), mask.any(axis=(0, 2)), mask.any(axis=(0, 1)))
    if not proj[0].any():
        return vtkPolyData()
    (z0, z1), (y0, y1), (x0, x1) = _bbox(proj)
    crop = np.pad(mask[z0:z1, y0:y1, x0:x1].astype(np.uint8), 1)  # background all round: closed
    image = vtkImageData()
    nz, ny, nx = crop.shape
    image.SetDimensions(nx, ny, nz)
    sx, sy, sz = geometry.spacing
    image.SetSpacing(sx, sy, sz)
    image.SetOrigin((x0 - 1) * sx, (y0 - 1) * sy, (z0 - 1) * sz)
    image.GetPointData().SetScalars(numpy_to_vtk(crop.reshape(-1), deep=True))
    fe = vtkDiscreteFlyingEdges3D()
    fe.SetInputData(image)
    fe.SetValue(0, 1)
    fe.ComputeNormalsOff()
    fe.ComputeGradientsOff()
    fe.ComputeScalarsOff()
    source = fe
    if smoothing_iterations > 0:
        smooth = vtkWindowedSincPolyDataFilter()
        smooth.SetInputConnection(fe.GetOutputPort())
        smooth.SetNumberOfIterations(int(smoothing_iterations))
        smooth.SetPassBand(0.1)
        smooth.BoundarySmoothingOff()
        smooth.FeatureEdgeSmoothingOff()
        smooth.NonManifoldSmoothingOn()
        smooth.NormalizeCoordinatesOn()
        source = smooth
    normals = vtkPolyDataNormals()
    normals.SetInputConnection(source.GetOutputPort())
    normals.SplittingOff()
    normals.ConsistencyOn()
    normals.Update()
    out = vtkPolyData()
    out.DeepCopy(normals.GetOutput())
    return out


def build_label_surfaces(
    lm: LabelMap, smoothing_iterations: int = 15, cancel: threading.Event | None = None
) -> list[LabelSurface]:
    """Surfaces of every label value present in ``lm`` (safe on a worker thread)."""
    arr = lm.array
    counts = np.bincount(arr.ravel()) if arr.size else np.zeros(1, np.int64)
    by_value = {lab.value: lab for lab in lm.labels}
    surfaces = []
    for value in np.flatnonzero(counts[1:]) + 1:
        if cancel is not None and cancel.is_set():
            break
        lab = by_value.get(int(value))
        pd = label_surface(arr, int(value), lm.geometry, smoothing_iterations)
        surfaces.append(
            LabelSurface(
                int(value),
                lab.name if lab else f"label {value}",
                label_color(lab, int(value)),
                pd,
                lm.geometry,
            )
        )
    return surfaces


class LabelSurfaces:
    """The surface actors of one label map in a 3D renderer."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.renderer = renderer
        self.actors: dict[int, vtkActor] = {}
        self.surfaces: list[LabelSurface] = []
        self.opacity = 1.0

    def set_surfaces(self, surfaces: list[LabelSurface]) -> None:
        self.clear()
        self.surfaces = list(surfaces)
        for s in surfaces:
            mapper = vtkPolyDataMapper()
            mapper.SetInputData(s.polydata)
            mapper.ScalarVisibilityOff()
            actor = vtkActor()
            actor.SetMapper(mapper)
            prop = actor.GetProperty()
            prop.SetColor(*(c / 255.0 for c in s.color))
            prop.SetOpacity(self.opacity)
            prop.SetAmbient(0.2)
            prop.SetDiffuse(0.8)
            prop.SetSpecular(0.2)
            actor.SetUserMatrix(grid_to_lps_matrix(s.geometry))
            actor.PickableOff()
            self.renderer.AddActor(actor)
            self.actors[s.value] = actor

    def set_visible(self, value: int, visible: bool) -> None:
        if value in self.actors:
            self.actors[value].SetVisibility(bool(visible))

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(min(max(opacity, 0.0), 1.0))
        for actor in self.actors.values():
            actor.GetProperty().SetOpacity(self.opacity)

    def bounds(self) -> tuple[float, ...] | None:
        """LPS bounds of all visible surfaces, None when there are none."""
        boxes = [a.GetBounds() for a in self.actors.values() if a.GetMapper().GetInput().GetNumberOfPoints()]
        if not boxes:
            return None
        b = np.array(boxes)
        return (b[:, 0].min(), b[:, 1].max(), b[:, 2].min(), b[:, 3].max(), b[:, 4].min(), b[:, 5].max())

    def clear(self) -> None:
        for actor in self.actors.values():
            self.renderer.RemoveActor(actor)
        self.actors = {}
        self.surfaces = []
