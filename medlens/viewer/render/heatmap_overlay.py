"""A heatmap (probability, uncertainty, saliency) drawn over a slice pane through a colour map.

Zero-copy like the volume: the float32 array is wrapped in a ``vtkImageData`` and one slice is
mapped per frame by a ``vtkImageSliceMapper`` through a lookup table built by
:func:`.colormaps.heatmap_lookup_table`. The threshold is part of the table (values below it map
to the transparent below-range colour), so moving a threshold slider rebuilds 256 table entries and
never touches voxels. The value range is fixed when the heatmap is set (its min/max, or 0..1 for
probabilities), so the colour of a value does not change while the user scrolls.
"""

from __future__ import annotations

import numpy as np

from ..model import Heatmap, Volume
from .colormaps import COLORMAPS, heatmap_lookup_table
from .label_overlay import _image_layer, slice_extents
from .vtk_bridge import VtkVolume, grid_to_lps_matrix, volume_to_vtk


def heatmap_range(hm: Heatmap) -> tuple[float, float]:
    """The colour-map range: 0..1 for probabilities, else the finite min..max (0..max if >= 0)."""
    if hm.kind == "probability":
        return (0.0, 1.0)
    finite = hm.array[np.isfinite(hm.array)] if not np.isfinite(hm.array).all() else hm.array
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if lo >= 0.0:
        lo = 0.0  # uncertainty / saliency: zero means "nothing", keep it at the ramp's start
    return (lo, hi if hi > lo else lo + 1.0)


class HeatmapLayer:
    """One heatmap's image slice in one pane."""

    LAYER = 1  # above the grey image, below the labels (outlines stay readable)

    def __init__(self) -> None:
        self.mapper, self.property, self.actor = _image_layer(self.LAYER)
        self.property.SetInterpolationTypeToLinear()  # a smooth field: no voxel blocks
        self.heatmap: Heatmap | None = None
        self.vtk: VtkVolume | None = None
        self.cmap = "inferno"
        self.opacity = 0.5
        self.threshold: float | None = None
        self.range: tuple[float, float] = (0.0, 1.0)
        self.visible = True
        self.slice_axis = 2
        self.extents: np.ndarray | None = None  # per-slice box of values >= threshold

    def set_heatmap(
        self,
        hm: Heatmap | None,
        slice_axis: int,
        cmap: str = "inferno",
        opacity: float = 0.5,
        threshold: float | None = None,
    ) -> None:
        if cmap not in COLORMAPS:
            raise ValueError(f"unknown colour map {cmap!r}; choose from {sorted(COLORMAPS)}")
        self.heatmap = hm
        if hm is None:
            self.vtk = None
            self.mapper.RemoveAllInputs()
            self.actor.VisibilityOff()
            return
        self.vtk = volume_to_vtk(Volume(hm.array, hm.geometry))
        self.mapper.SetInputData(self.vtk.image)
        self.mapper.SetOrientation(int(slice_axis))
        self.actor.SetUserMatrix(grid_to_lps_matrix(hm.geometry))
        self.cmap = cmap
        self.slice_axis = int(slice_axis)
        self.range = heatmap_range(hm)
        self.threshold = threshold
        self.visible = True
        self.set_opacity(opacity)
        self._rebuild_table()
        self.actor.VisibilityOn()

    def set_threshold(self, threshold: float | None) -> None:
        self.threshold = threshold
        if self.heatmap is not None:
            self._rebuild_table()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(min(max(opacity, 0.0), 1.0))
        self.property.SetOpacity(self.opacity)

    def set_visible(self, visible: bool) -> None:
        self.visible = bool(visible)
        self.actor.SetVisibility(self.visible and self.heatmap is not None)

    def _rebuild_table(self) -> None:
        self.property.SetLookupTable(heatmap_lookup_table(self.cmap, *self.range, self.threshold))
        self._update_extents()

    def _update_extents(self) -> None:
        """Crop boxes of what the threshold lets through (None: the whole slice is coloured)."""
        hm = self.heatmap
        if hm is None or self.threshold is None:
            self.extents = None
        else:
            self.extents = slice_extents(hm.array >= self.threshold, self.slice_axis)

    def data_changed(self) -> None:
        if self.vtk is not None:
            self.vtk.modified()
            self._update_extents()

    def before_render(self, slice_index: int) -> None:
        if self.heatmap is None or not self.visible:
            return
        self.mapper.SetSliceNumber(slice_index)
        if self.extents is None:
            self.mapper.CroppingOff()
            self.actor.VisibilityOn()
            return
        ext = self.extents[slice_index] if 0 <= slice_index < len(self.extents) else None
        empty = ext is None or ext[0] < 0
        self.actor.SetVisibility(not empty)
        if not empty:
            self.mapper.SetCroppingRegion(*(int(v) for v in ext))
            self.mapper.CroppingOn()

    def dispose(self) -> None:
        self.mapper.RemoveAllInputs()
        self.heatmap = None
        self.vtk = None
