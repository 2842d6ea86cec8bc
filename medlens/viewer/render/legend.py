"""The overlay legend of a slice pane: label names with colour swatches, and a heatmap colour bar.

Both are 2D actors in normalised viewport coordinates, placed on the right (labels, upper middle)
and left (colour bar, middle) edges, away from the corner text and the orientation letters at the
edge centres. They follow what is shown: hidden labels leave the legend, no heatmap no bar.
"""

from __future__ import annotations

from collections.abc import Sequence

from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingAnnotation import vtkLegendBoxActor, vtkScalarBarActor
from vtkmodules.vtkRenderingCore import vtkRenderer

from .colormaps import full_range_table


def _square() -> vtkPolyData:
    """A filled unit square: the legend's colour swatch."""
    pts = vtkPoints()
    for x, y in ((0, 0), (1, 0), (1, 1), (0, 1)):
        pts.InsertNextPoint(x, y, 0.0)
    polys = vtkCellArray()
    polys.InsertNextCell(4)
    for i in range(4):
        polys.InsertCellPoint(i)
    pd = vtkPolyData()
    pd.SetPoints(pts)
    pd.SetPolys(polys)
    return pd


class OverlayLegend:
    """Legend box (labels) + scalar bar (heatmap) in one renderer."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.renderer = renderer
        self.enabled = True
        self._swatch = _square()
        self.labels = vtkLegendBoxActor()
        self.labels.SetNumberOfEntries(0)
        self.labels.BorderOff()
        self.labels.UseBackgroundOn()
        self.labels.SetBackgroundColor(0.0, 0.0, 0.0)
        self.labels.SetBackgroundOpacity(0.45)
        self.labels.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.labels.GetPositionCoordinate().SetValue(0.74, 0.62)
        self.labels.GetPosition2Coordinate().SetValue(0.24, 0.08)
        self.labels.GetEntryTextProperty().SetFontSize(12)
        self.labels.PickableOff()
        self.labels.VisibilityOff()
        self.bar = vtkScalarBarActor()
        self.bar.SetOrientationToVertical()
        self.bar.SetNumberOfLabels(3)
        self.bar.SetLabelFormat("%.2g")
        self.bar.SetMaximumWidthInPixels(60)
        self.bar.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.bar.GetPositionCoordinate().SetValue(0.04, 0.25)
        self.bar.SetWidth(0.09)
        self.bar.SetHeight(0.45)
        self.bar.GetLabelTextProperty().SetFontSize(11)
        self.bar.GetTitleTextProperty().SetFontSize(11)
        self.bar.UnconstrainedFontSizeOn()
        self.bar.PickableOff()
        self.bar.VisibilityOff()
        renderer.AddViewProp(self.labels)
        renderer.AddViewProp(self.bar)
        self._has_labels = False
        self._has_bar = False

    def set_labels(self, entries: Sequence[tuple[str, tuple[int, int, int]]]) -> None:
        """``entries`` = (name, colour 0-255) of the labels shown, in table order."""
        self.labels.SetNumberOfEntries(len(entries))
        for i, (name, (r, g, b)) in enumerate(entries):
            self.labels.SetEntry(i, self._swatch, name, (r / 255.0, g / 255.0, b / 255.0))
        n = max(len(entries), 1)
        height = min(0.07 * n + 0.02, 0.5)  # the box sizes the text: keep it readable
        self.labels.GetPositionCoordinate().SetValue(0.64, 0.74 - height)
        self.labels.GetPosition2Coordinate().SetValue(0.34, height)
        self._has_labels = bool(entries)
        self._apply()

    def set_colorbar(self, cmap: str | None, vmin: float = 0.0, vmax: float = 1.0, title: str = "") -> None:
        """Show the colour bar of ``cmap`` over ``[vmin, vmax]``; None hides it."""
        self._has_bar = cmap is not None
        if cmap is not None:
            self.bar.SetLookupTable(full_range_table(cmap, vmin, vmax))
            self.bar.SetTitle(title[:24])
        self._apply()

    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        self._apply()

    def _apply(self) -> None:
        self.labels.SetVisibility(self.enabled and self._has_labels)
        self.bar.SetVisibility(self.enabled and self._has_bar)

    def dispose(self) -> None:
        self.renderer.RemoveViewProp(self.labels)
        self.renderer.RemoveViewProp(self.bar)
