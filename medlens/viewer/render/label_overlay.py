"""A label map drawn over a slice pane: filled, outlined, or both; per-label colour and visibility.

Pipeline and why
----------------
*Fill*: the label array is wrapped zero-copy in a ``vtkImageData`` (the same bridge as the volume,
:func:`.vtk_bridge.volume_to_vtk`) and drawn by its own ``vtkImageSliceMapper`` at the pane's slice
number, coloured by an *indexed* lookup table (:func:`.colormaps.label_lookup_table`) whose alpha is
0 for background and hidden labels. Per frame the mapper maps one slice of uint8/uint16 through a
table -- the same cost class as the grey image -- so overlays do not slow scrolling down.
Visibility and colour changes rebuild only the table (a few hundred entries), never touch voxels.

*Outline*: a lookup table cannot draw only a boundary, so the boundary of the *displayed* slice is
computed with numpy (a voxel is on the outline when a 4-neighbour in the plane differs from it;
outside the grid counts as background) into a one-slice buffer placed on that slice, and redrawn
when the slice or the labels change. One 512x512 slice costs about a millisecond.

In-place edits (an annotator's brush): :meth:`LabelLayer.data_changed` marks the shared array
modified so the fill mapper re-extracts the one displayed slice, and recomputes the outline only if
the edited box crosses that slice.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkRenderingCore import vtkImageProperty, vtkImageSlice, vtkImageSliceMapper

from ..model import LabelMap, Volume
from .colormaps import label_lookup_table
from .vtk_bridge import VtkVolume, grid_to_lps_matrix, volume_to_vtk

BoundsZYX = tuple[slice, slice, slice]


def _image_layer(layer: int) -> tuple[vtkImageSliceMapper, vtkImageProperty, vtkImageSlice]:
    """A nearest-neighbour, lookup-table coloured image slice for one overlay layer."""
    mapper = vtkImageSliceMapper()
    mapper.BorderOn()
    mapper.SliceAtFocalPointOff()
    mapper.SliceFacesCameraOff()
    prop = vtkImageProperty()
    prop.SetInterpolationTypeToNearest()
    prop.UseLookupTableScalarRangeOn()
    prop.SetLayerNumber(layer)
    actor = vtkImageSlice()
    actor.SetMapper(mapper)
    actor.SetProperty(prop)
    actor.VisibilityOff()
    actor.PickableOff()
    return mapper, prop, actor


def slice_extents(mask: np.ndarray, slice_axis: int) -> np.ndarray:
    """Per slice along grid axis ``slice_axis`` (x=0), the structured extent of ``mask``'s True
    voxels: an ``(n, 6)`` int array of (x0, x1, y0, y1, z0, z1) rows, all -1 for an empty slice.

    Why: an overlay layer is cropped to this box on each frame (and hidden on empty slices), so a
    nodule mask costs a few hundred texels per frame instead of a full-slice texture -- in software
    OpenGL every blended texel costs.
    """
    arr_axis = 2 - int(slice_axis)
    m = np.moveaxis(mask, arr_axis, 0)
    n = m.shape[0]
    rest = [ax for ax in (0, 1, 2) if ax != arr_axis]  # remaining array axes, in order
    out = np.full((n, 6), -1, dtype=np.int64)
    present = np.zeros(n, dtype=bool)
    for proj, ax in ((m.any(axis=2), rest[0]), (m.any(axis=1), rest[1])):
        present = proj.any(axis=1)
        size = proj.shape[1]
        first = np.argmax(proj, axis=1)
        last = size - 1 - np.argmax(proj[:, ::-1], axis=1)
        xyz = 2 - ax
        out[:, 2 * xyz] = first
        out[:, 2 * xyz + 1] = last
    shape_xyz = (mask.shape[2], mask.shape[1], mask.shape[0])
    for a in range(3):  # one voxel of margin: the crop never clips a border voxel
        out[:, 2 * a] = np.maximum(out[:, 2 * a] - 1, 0)
        out[:, 2 * a + 1] = np.minimum(out[:, 2 * a + 1] + 1, shape_xyz[a] - 1)
    out[:, 2 * slice_axis] = np.arange(n)
    out[:, 2 * slice_axis + 1] = np.arange(n)
    out[~present] = -1
    return out


def grow_extents(
    extents: np.ndarray, bounds_zyx: BoundsZYX, shape_zyx: tuple[int, ...], slice_axis: int
) -> None:
    """Union (in place) the per-slice extents with an edited box (conservative: erasing never shrinks)."""
    box = [bounds_zyx[a].indices(shape_zyx[a])[:2] for a in range(3)]  # (start, stop) per array axis
    xyz = [box[2], box[1], box[0]]
    k0, k1 = xyz[slice_axis]
    for k in range(max(k0, 0), min(k1, len(extents))):
        row = extents[k]
        empty = row[0] < 0
        for a in range(3):
            if a == slice_axis:
                row[2 * a] = row[2 * a + 1] = k
                continue
            lo, hi = xyz[a][0], xyz[a][1] - 1
            row[2 * a] = lo if empty else min(row[2 * a], lo)
            row[2 * a + 1] = hi if empty else max(row[2 * a + 1], hi)


def slice_outline(plane: np.ndarray) -> np.ndarray:
    """Labels of ``plane`` kept only where a 4-neighbour differs (the grid edge counts as 0)."""
    p = np.pad(plane, 1)
    c = p[1:-1, 1:-1]
    edge = (c != p[:-2, 1:-1]) | (c != p[2:, 1:-1]) | (c != p[1:-1, :-2]) | (c != p[1:-1, 2:])
    return np.where(edge, c, 0).astype(plane.dtype, copy=False)


class LabelLayer:
    """Fill and outline image slices for one :class:`LabelMap` in one pane."""

    FILL_LAYER = 2
    OUTLINE_LAYER = 3

    def __init__(self) -> None:
        self.fill_mapper, self.fill_property, self.fill_actor = _image_layer(self.FILL_LAYER)
        self.outline_mapper, self.outline_property, self.outline_actor = _image_layer(self.OUTLINE_LAYER)
        self.outline_image = vtkImageData()
        self.outline_mapper.SetInputData(self.outline_image)
        self.label_map: LabelMap | None = None
        self.vtk: VtkVolume | None = None
        self.opacity = 0.5
        self.fill = True
        self.outline = False
        self.hidden: set[int] = set()
        self.max_value = 0
        self.slice_axis = 2
        self._outline_key: tuple[int, int] | None = None  # (slice_axis, slice) drawn in the buffer
        self.extents: np.ndarray | None = None  # per-slice box of non-zero labels (slice_extents)
        self._outline_keep: np.ndarray | None = None

    @property
    def actors(self) -> tuple[vtkImageSlice, vtkImageSlice]:
        return (self.fill_actor, self.outline_actor)

    # -- data -------------------------------------------------------------------------------
    def set_label_map(
        self, lm: LabelMap | None, slice_axis: int, opacity: float, outline: bool, fill: bool
    ) -> None:
        """Show ``lm`` (zero-copy) or nothing; ``slice_axis`` is the pane's grid slice axis (x=0)."""
        self.label_map = lm
        self.slice_axis = int(slice_axis)
        self.opacity = float(min(max(opacity, 0.0), 1.0))
        self.fill, self.outline = bool(fill), bool(outline)
        self.hidden = set()
        self._outline_key = None
        if lm is None:
            self.vtk = None
            self.fill_mapper.RemoveAllInputs()
            self.fill_actor.VisibilityOff()
            self.outline_actor.VisibilityOff()
            return
        self.vtk = volume_to_vtk(Volume(lm.array, lm.geometry))  # zero-copy view of the labels
        self.fill_mapper.SetInputData(self.vtk.image)
        self.fill_mapper.SetOrientation(self.slice_axis)
        self.outline_mapper.SetOrientation(self.slice_axis)
        matrix = grid_to_lps_matrix(lm.geometry)
        self.fill_actor.SetUserMatrix(matrix)
        self.outline_actor.SetUserMatrix(matrix)
        self.max_value = int(lm.array.max()) if lm.array.size else 0
        self.extents = slice_extents(lm.array != 0, self.slice_axis)
        self._rebuild_table()
        self._apply_visibility()

    def data_changed(self, bounds_zyx: BoundsZYX | None, slice_index: int) -> bool:
        """The label array was edited in place (inside ``bounds_zyx`` if given).

        Returns True when the displayed slice is affected (the caller then redraws).
        """
        lm = self.label_map
        if lm is None or self.vtk is None:
            return False
        region = lm.array if bounds_zyx is None else lm.array[bounds_zyx]
        top = int(region.max()) if region.size else 0
        if top > self.max_value:  # a new label value: the table must cover it
            self.max_value = top
            self._rebuild_table()
        self.vtk.modified()  # cheap: only the displayed slice is ever re-extracted
        if bounds_zyx is None or self.extents is None:
            self.extents = slice_extents(lm.array != 0, self.slice_axis)
        else:
            grow_extents(self.extents, bounds_zyx, lm.array.shape, self.slice_axis)
        if bounds_zyx is not None:
            axis = 2 - self.slice_axis  # array axis of this pane's slice
            start, stop, _ = bounds_zyx[axis].indices(lm.array.shape[axis])
            if not start <= slice_index < stop:
                return False
        self._outline_key = None
        return True

    # -- appearance -------------------------------------------------------------------------
    def set_visible(self, value: int, visible: bool) -> None:
        if visible:
            self.hidden.discard(int(value))
        else:
            self.hidden.add(int(value))
        if self.label_map is not None:
            self._rebuild_table()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(min(max(opacity, 0.0), 1.0))
        self.fill_property.SetOpacity(self.opacity)

    def set_style(self, outline: bool, fill: bool) -> None:
        self.outline, self.fill = bool(outline), bool(fill)
        self._apply_visibility()

    def _rebuild_table(self) -> None:
        assert self.label_map is not None
        table = label_lookup_table(self.label_map.labels, self.max_value, self.hidden)
        self.fill_property.SetLookupTable(table)
        self.outline_property.SetLookupTable(table)

    def _apply_visibility(self) -> None:
        on = self.label_map is not None
        self.fill_property.SetOpacity(self.opacity)
        # the outline is one voxel thin: drawn opaque so it reads over any fill opacity
        self.outline_property.SetOpacity(1.0)
        self.fill_actor.SetVisibility(on and self.fill)
        self.outline_actor.SetVisibility(on and self.outline)

    # -- per frame --------------------------------------------------------------------------
    def before_render(self, slice_index: int) -> None:
        """Follow the pane's slice (called at each frame's start)."""
        if self.label_map is None:
            return
        ext = None
        if self.extents is not None and 0 <= slice_index < len(self.extents):
            ext = self.extents[slice_index]
        empty = ext is None or ext[0] < 0
        self.fill_actor.SetVisibility(self.fill and not empty)
        self.outline_actor.SetVisibility(self.outline and not empty)
        if empty:
            return
        crop = [int(v) for v in ext]
        if self.fill:
            self.fill_mapper.SetSliceNumber(slice_index)
            self.fill_mapper.SetCroppingRegion(*crop)
            self.fill_mapper.CroppingOn()
        if self.outline and self._outline_key != (self.slice_axis, slice_index):
            self._update_outline(slice_index)
        if self.outline:
            self.outline_mapper.SetCroppingRegion(*crop)
            self.outline_mapper.CroppingOn()

    def _update_outline(self, k: int) -> None:
        lm = self.label_map
        assert lm is not None
        axis = 2 - self.slice_axis
        k = int(min(max(k, 0), lm.array.shape[axis] - 1))
        plane = slice_outline(np.take(lm.array, k, axis=axis))
        buf = np.ascontiguousarray(np.expand_dims(plane, axis))  # (z, y, x) with one slice
        nz, ny, nx = lm.array.shape
        extent = [0, nx - 1, 0, ny - 1, 0, nz - 1]
        extent[2 * self.slice_axis] = extent[2 * self.slice_axis + 1] = k
        img = self.outline_image
        img.SetExtent(*extent)
        img.SetSpacing(*lm.geometry.spacing)
        img.SetOrigin(0.0, 0.0, 0.0)
        scalars = numpy_to_vtk(buf.reshape(-1), deep=False)
        img.GetPointData().SetScalars(scalars)
        img.Modified()
        self._outline_keep = buf  # VTK does not own the memory
        self.outline_mapper.SetSliceNumber(k)
        self._outline_key = (self.slice_axis, k)

    def dispose(self) -> None:
        self.fill_mapper.RemoveAllInputs()
        self.outline_mapper.RemoveAllInputs()
        self.label_map = None
        self.vtk = None
        self._outline_keep = None
