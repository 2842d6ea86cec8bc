"""2D overlays of a slice view: orientation letters, scale bar, corner text, crosshair, ruler, ellipse.

Everything here is a ``vtkActor2D``/``vtkTextActor`` so it is drawn on top of the image, never
depth-fights with it and keeps a constant on-screen line width. Lines that live in patient space
(crosshair, ruler, ellipse) are given in LPS world coordinates through a world
``vtkCoordinate``: VTK projects them every frame, so zoom and pan need no Python work.
The scale bar is in viewport pixels and is re-sized by :meth:`ScaleBar.update` before each frame.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingAnnotation import vtkCornerAnnotation
from vtkmodules.vtkRenderingCore import (
    vtkActor2D,
    vtkCoordinate,
    vtkPolyDataMapper2D,
    vtkRenderer,
    vtkTextActor,
)

from .. import measure

CROSSHAIR_COLOR = (0.25, 0.85, 0.35)
MEASURE_COLOR = (1.0, 0.85, 0.1)
TEXT_COLOR = (0.95, 0.95, 0.95)


def _text_actor(size: int = 14, color=TEXT_COLOR) -> vtkTextActor:
    actor = vtkTextActor()
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetColor(*color)
    prop.SetFontFamilyToArial()
    prop.ShadowOn()
    actor.SetTextScaleModeToNone()
    return actor


class Lines2D:
    """Polylines drawn as an overlay; points in LPS world (``world=True``) or viewport pixels."""

    def __init__(self, color=CROSSHAIR_COLOR, width: float = 1.0, world: bool = True) -> None:
        self.polydata = vtkPolyData()
        self.mapper = vtkPolyDataMapper2D()
        self.mapper.SetInputData(self.polydata)
        if world:
            coord = vtkCoordinate()
            coord.SetCoordinateSystemToWorld()
            self.mapper.SetTransformCoordinate(coord)
        self.actor = vtkActor2D()
        self.actor.SetMapper(self.mapper)
        self.actor.GetProperty().SetColor(*color)
        self.actor.GetProperty().SetLineWidth(width)

    def set_polylines(self, polylines: list[np.ndarray]) -> None:
        points = vtkPoints()
        cells = vtkCellArray()
        n = 0
        for line in polylines:
            line = np.asarray(line, dtype=float)
            if line.shape[1] == 2:
                line = np.column_stack([line, np.zeros(len(line))])
            cells.InsertNextCell(len(line))
            for p in line:
                points.InsertNextPoint(*p)
                cells.InsertCellPoint(n)
                n += 1
        self.polydata.SetPoints(points)
        self.polydata.SetLines(cells)
        self.polydata.Modified()


class OrientationLetters:
    """Letters at the middle of the four viewport edges (see :mod:`.orientation` for the rule)."""

    # edge -> (x, y) in normalised viewport, horizontal / vertical justification index
    _POS: ClassVar[dict[str, tuple[float, float, int, int]]] = {
        "left": (0.01, 0.5, 0, 1),
        "right": (0.99, 0.5, 2, 1),
        "top": (0.5, 0.99, 1, 2),
        "bottom": (0.5, 0.01, 1, 0),
    }

    def __init__(self, renderer: vtkRenderer) -> None:
        self.actors: dict[str, vtkTextActor] = {}
        for edge, (x, y, hjust, vjust) in self._POS.items():
            actor = _text_actor(16, (1.0, 0.9, 0.4))
            prop = actor.GetTextProperty()
            prop.BoldOn()
            prop.SetJustification(hjust)  # 0 left, 1 centred, 2 right
            prop.SetVerticalJustification(vjust)  # 0 bottom, 1 centred, 2 top
            coord = actor.GetPositionCoordinate()
            coord.SetCoordinateSystemToNormalizedViewport()
            coord.SetValue(x, y)
            renderer.AddViewProp(actor)
            self.actors[edge] = actor

    def set_labels(self, labels: dict[str, str]) -> None:
        for edge, actor in self.actors.items():
            actor.SetInput(labels.get(edge, ""))

    def set_visible(self, on: bool) -> None:
        for actor in self.actors.values():
            actor.SetVisibility(on)


def nice_length(target: float) -> float:
    """The largest 1, 2 or 5 x 10^n not above ``target`` (scale-bar lengths)."""
    if target <= 0 or not math.isfinite(target):
        return 0.0
    exp = math.floor(math.log10(target))
    for m in (5.0, 2.0, 1.0):
        if m * 10**exp <= target:
            return m * 10**exp
    return 10.0 ** (exp - 1) * 5.0  # pragma: no cover - unreachable


class ScaleBar:
    """A horizontal mm scale bar at the lower right (above the zoom text), ~1/5 of the pane wide.

    Its length is a round number of mm (1/2/5 x 10^n), recomputed from the camera's parallel scale
    before every frame, so it stays right through zoom and window resizes.
    """

    def __init__(self, renderer: vtkRenderer) -> None:
        self.renderer = renderer
        self.outline = Lines2D(color=(0.0, 0.0, 0.0), width=4.0, world=False)  # legible on white
        self.lines = Lines2D(color=TEXT_COLOR, width=2.0, world=False)
        self.label = _text_actor(12)
        renderer.AddViewProp(self.outline.actor)
        renderer.AddViewProp(self.lines.actor)
        renderer.AddViewProp(self.label)
        self.length_mm = 0.0
        self.length_px = 0.0
        self._last: tuple | None = None

    def mm_per_pixel(self) -> float:
        _, h = self.renderer.GetSize()
        if h <= 0:
            return 0.0
        return 2.0 * self.renderer.GetActiveCamera().GetParallelScale() / h

    def update(self) -> None:
        w, h = self.renderer.GetSize()
        mmpp = self.mm_per_pixel()
        key = (w, h, mmpp)
        if key == self._last or mmpp <= 0:
            return
        self._last = key
        self.length_mm = nice_length(0.2 * w * mmpp)
        self.length_px = self.length_mm / mmpp if mmpp else 0.0
        tick = 5.0
        x1, y0 = w - 14.0, 48.0
        x0 = x1 - self.length_px
        bar = [np.array([[x0, y0 + tick], [x0, y0], [x1, y0], [x1, y0 + tick]])]
        self.outline.set_polylines(bar)
        self.lines.set_polylines(bar)
        length = self.length_mm
        self.label.SetInput(f"{length:g} mm" if length >= 1 else f"{length * 1000:g} um")
        self.label.SetPosition(x0, y0 + 4)

    def set_visible(self, on: bool) -> None:
        self.outline.actor.SetVisibility(on)
        self.lines.actor.SetVisibility(on)
        self.label.SetVisibility(on)


class CornerText:
    """Patient/study text in the corners (vtkCornerAnnotation, one text block per corner)."""

    LOWER_LEFT, LOWER_RIGHT, UPPER_LEFT, UPPER_RIGHT = 0, 1, 2, 3

    def __init__(self, renderer: vtkRenderer) -> None:
        self.actor = vtkCornerAnnotation()
        self.actor.SetMaximumFontSize(14)
        self.actor.SetLinearFontScaleFactor(2)
        self.actor.SetNonlinearFontScaleFactor(1)
        self.actor.GetTextProperty().SetColor(*TEXT_COLOR)
        self.actor.GetTextProperty().ShadowOn()
        renderer.AddViewProp(self.actor)
        self._texts = ["", "", "", ""]

    def set(self, corner: int, text: str) -> None:
        if self._texts[corner] != text:  # re-rasterising text is the costly part of a frame
            self._texts[corner] = text
            self.actor.SetText(corner, text)

    def get(self, corner: int) -> str:
        return self._texts[corner]

    def set_visible(self, on: bool) -> None:
        self.actor.SetVisibility(on)


class Crosshair:
    """Two lines through the linked cursor, spanning the shown slice, in LPS world coordinates."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.lines = Lines2D(color=CROSSHAIR_COLOR, width=1.0)
        self.lines.actor.VisibilityOff()
        renderer.AddViewProp(self.lines.actor)

    def set_segments(self, segments: list[np.ndarray] | None) -> None:
        if not segments:
            self.lines.actor.VisibilityOff()
            return
        self.lines.set_polylines(segments)
        self.lines.actor.VisibilityOn()


class Measurement:
    """Base of ruler/ellipse overlays: a line set and a label, shown only on their own slice."""

    def __init__(self, view) -> None:
        self.view = view
        self.lines = Lines2D(color=MEASURE_COLOR, width=2.0)
        self.label = _text_actor(13, MEASURE_COLOR)
        coord = self.label.GetPositionCoordinate()
        coord.SetCoordinateSystemToWorld()
        self.slice_index = 0
        view.renderer.AddViewProp(self.lines.actor)
        view.renderer.AddViewProp(self.label)

    @property
    def label_text(self) -> str:
        return self.label.GetInput() or ""

    def update_visibility(self, current_slice: int) -> None:
        on = current_slice == self.slice_index
        self.lines.actor.SetVisibility(on)
        self.label.SetVisibility(on)

    def remove(self) -> None:
        """Take the overlay off its view (the Qt layer calls this on delete)."""
        self.view.renderer.RemoveViewProp(self.lines.actor)
        self.view.renderer.RemoveViewProp(self.label)
        if self in self.view.measurements:
            self.view.measurements.remove(self)
        self.view._maybe_render()


class RulerAnnotation(Measurement):
    """A distance line between two LPS points, labelled in mm."""

    def __init__(self, view, p_lps, q_lps) -> None:
        super().__init__(view)
        self.set_points(p_lps, q_lps)

    def set_points(self, p_lps, q_lps) -> None:
        """Move the end points (interactive dragging); recomputes the distance and the label."""
        self.p = np.asarray(p_lps, dtype=float)
        self.q = np.asarray(q_lps, dtype=float)
        self.distance_mm = measure.distance_mm(self.p, self.q)
        self.slice_index = self.view.slice_of_lps(self.p)
        self.lines.set_polylines([np.vstack([self.p, self.q])])
        self.label.SetInput(measure.format_distance(self.distance_mm))
        self.label.GetPositionCoordinate().SetValue(*(self.q + 0.0))
        self.update_visibility(self.view.slice_index)


class EllipseAnnotation(Measurement):
    """An elliptical ROI on one slice, labelled with its voxel statistics.

    ``radii_mm`` are along screen right and screen up of the view it was drawn on (the in-plane
    grid axes, since panes show grid planes).
    """

    N_POINTS = 72

    def __init__(self, view, centre_lps, radii_mm) -> None:
        super().__init__(view)
        self.set_geometry(centre_lps, radii_mm)

    def set_geometry(self, centre_lps, radii_mm) -> None:
        view = self.view
        self.centre = np.asarray(centre_lps, dtype=float)
        self.radii_mm = (float(radii_mm[0]), float(radii_mm[1]))
        self.slice_index = view.slice_of_lps(self.centre)
        centre_ijk = view.volume.lps_to_index(self.centre)
        self.stats = measure.ellipse_roi_stats(
            view.volume, view.orientation, self.slice_index, centre_ijk, self.radii_mm
        )
        # draw on the slice plane itself (the centre may have been given slightly off it)
        plane_centre = view.project_to_plane(self.centre, self.slice_index)
        right, up = np.asarray(view.axes.right), np.asarray(view.axes.up)
        t = np.linspace(0.0, 2.0 * np.pi, self.N_POINTS + 1)
        pts = (
            plane_centre
            + np.outer(np.cos(t) * self.radii_mm[0], right)
            + np.outer(np.sin(t) * self.radii_mm[1], up)
        )
        self.lines.set_polylines([pts])
        self.label.SetInput(measure.format_stats(self.stats, view.units))
        anchor = plane_centre + right * self.radii_mm[0] * 0.75 + up * self.radii_mm[1] * 0.75
        self.label.GetPositionCoordinate().SetValue(*anchor)
        self.update_visibility(view.slice_index)
