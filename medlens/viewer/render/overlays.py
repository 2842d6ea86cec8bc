"""Overlays of a slice pane: a label map and a heatmap over the grey image, plus their legend.

:class:`SliceOverlays` is what ``SliceView.set_label_map`` / ``set_heatmap`` / ``update_label_map``
delegate to; it is created on first use, so a pane without overlays is exactly the pane it was.

Layering: coplanar ``vtkImageSlice`` props would depth-fight, so on first use the pane's grey image
is moved into a ``vtkImageStack`` with the overlay layers (grey 0, heatmap 1, label fill 2, label
outline 3 -- :class:`~.label_overlay.LabelLayer`, :class:`~.heatmap_overlay.HeatmapLayer`); the stack
draws them in that order on the same plane. Each layer carries its grid's origin + direction on its
``UserMatrix`` like the grey image, so world coordinates stay LPS mm.

Scrolling: no hook in ``SliceView.set_slice``; the layers follow the pane's ``slice_index`` from the
renderer's ``StartEvent`` (before any prop draws), so however the slice was changed -- wheel,
linked cursor, API -- the overlays can never show another slice than the grey image.

Overlays must lie on the pane volume's grid (same shape; placement from their own geometry), which
is what every MedLens producer (inference results, DICOM SEG / NRRD masks resampled on load,
annotators' ``LabelMap.empty_like``) gives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vtkmodules.vtkRenderingImage import vtkImageStack

from ..model import Heatmap, LabelMap
from .colormaps import label_color
from .heatmap_overlay import HeatmapLayer
from .label_overlay import BoundsZYX, LabelLayer
from .legend import OverlayLegend

if TYPE_CHECKING:
    from .slice_view import SliceView


class SliceOverlays:
    """Label + heatmap layers and the legend of one :class:`SliceView`."""

    def __init__(self, view: SliceView) -> None:
        self.view = view
        ren = view.renderer
        self.stack = vtkImageStack()
        ren.RemoveViewProp(view.image_slice)
        view.image_property.SetLayerNumber(0)
        self.stack.AddImage(view.image_slice)
        self.labels = LabelLayer()
        self.heatmap = HeatmapLayer()
        for actor in (self.heatmap.actor, *self.labels.actors):
            self.stack.AddImage(actor)
        self.stack.SetActiveLayer(0)
        ren.AddViewProp(self.stack)
        self.legend = OverlayLegend(ren)
        self._observer = ren.AddObserver("StartEvent", self._before_render)

    # -- labels -----------------------------------------------------------------------------
    def set_label_map(self, lm: LabelMap | None, opacity: float, outline: bool, fill: bool) -> None:
        if lm is not None:
            self._check_grid(lm.array.shape, "label map")
        self.labels.set_label_map(lm, self._slice_axis(), opacity, outline, fill)
        self._update_legend()

    def update_label_map(self, bounds_zyx: BoundsZYX | None = None) -> bool:
        """In-place edit of the label array; True when the displayed slice needs a redraw."""
        changed = self.labels.data_changed(bounds_zyx, self.view.slice_index)
        return changed

    def set_label_visible(self, value: int, visible: bool) -> None:
        self.labels.set_visible(value, visible)
        self._update_legend()

    def set_label_opacity(self, opacity: float) -> None:
        self.labels.set_opacity(opacity)

    def set_label_style(self, outline: bool, fill: bool) -> None:
        self.labels.set_style(outline, fill)

    # -- heatmap ----------------------------------------------------------------------------
    def set_heatmap(
        self, hm: Heatmap | None, cmap: str, opacity: float, threshold: float | None
    ) -> None:
        if hm is not None:
            self._check_grid(hm.array.shape, "heatmap")
        self.heatmap.set_heatmap(hm, self._slice_axis(), cmap, opacity, threshold)
        self._update_legend()

    def set_heatmap_threshold(self, threshold: float | None) -> None:
        self.heatmap.set_threshold(threshold)

    def set_heatmap_opacity(self, opacity: float) -> None:
        self.heatmap.set_opacity(opacity)

    def set_heatmap_visible(self, visible: bool) -> None:
        self.heatmap.set_visible(visible)
        self._update_legend()

    # -- housekeeping -----------------------------------------------------------------------
    def matches(self, shape_zyx: tuple[int, ...]) -> bool:
        """True when the current overlays can stay on a volume of this shape."""
        arrays = [o.array for o in (self.labels.label_map, self.heatmap.heatmap) if o is not None]
        return all(a.shape == tuple(shape_zyx) for a in arrays)

    def clear(self) -> None:
        self.set_label_map(None, 0.5, False, True)
        self.set_heatmap(None, "inferno", 0.5, None)

    def dispose(self) -> None:
        self.view.renderer.RemoveObserver(self._observer)
        self.labels.dispose()
        self.heatmap.dispose()
        self.legend.dispose()

    def _slice_axis(self) -> int:
        axes = self.view.axes
        return axes.slice_axis if axes is not None else 2

    def _check_grid(self, shape: tuple[int, ...], what: str) -> None:
        vol = self.view.volume
        if vol is not None and tuple(shape) != tuple(vol.array.shape):
            raise ValueError(
                f"the {what} grid {tuple(shape)} differs from the volume's {tuple(vol.array.shape)} "
                "(z, y, x); resample it onto the volume first"
            )

    def _update_legend(self) -> None:
        lm = self.labels.label_map
        entries = []
        if lm is not None:
            names = {lab.value: lab for lab in lm.labels}
            for value in sorted(names):
                if value not in self.labels.hidden:
                    entries.append((names[value].name, label_color(names[value], value)))
        self.legend.set_labels(entries)
        hm = self.heatmap.heatmap
        if hm is not None and self.heatmap.visible:
            self.legend.set_colorbar(self.heatmap.cmap, *self.heatmap.range, title=hm.kind)
        else:
            self.legend.set_colorbar(None)

    def _before_render(self, *_args: object) -> None:
        k = self.view.slice_index
        visible = self.view.supported and self.view.volume is not None
        self.labels.before_render(k)
        self.heatmap.before_render(k)
        if not visible:
            for actor in (self.heatmap.actor, *self.labels.actors):
                actor.VisibilityOff()
