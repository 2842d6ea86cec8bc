"""One 2D pane (axial, coronal or sagittal) of a volume: the MPR slice and its overlays.

Pipeline and why
----------------
``vtkImageData`` (zero-copy view of the Volume, :mod:`.vtk_bridge`) -> ``vtkImageSliceMapper``
(orientation = the grid axis chosen by :mod:`.orientation`, slice number = ``slice_index``) ->
``vtkImageSlice`` whose ``vtkImageProperty`` does the window/level, and whose ``UserMatrix``
places the grid in LPS. Scrolling only changes the slice number: the mapper extracts and
windows that one slice into a texture, so a frame costs one slice, not the volume (>= 40 fps at
512^2 on OSMesa, see ``bench/scroll.py``). No resampling: panes show the voxel-grid plane closest
to the anatomical plane; see :mod:`.orientation` for that decision and for the edge letters.

World coordinates are LPS mm. The camera is parallel-projection, looks along the grid slice axis
from the side radiological convention asks for, and does not move when scrolling (the clipping
range covers the whole volume), so zoom and pan survive scrolling.

Coordinates in the API: display ``(x, y)`` are VTK display pixels of the render window --
origin at the *bottom-left*, as ``interactor.GetEventPosition()`` reports them (a Qt widget's y
must be flipped: ``y_vtk = height - 1 - y_qt``, times the device pixel ratio).

State changes (``set_slice``, ``set_window``, ``zoom``...) render immediately when
``auto_render`` is True (default); set it False to batch several changes, then call ``render()``.
``listeners`` are called as ``callback(view, what)`` with ``what`` in
{"volume", "slice", "window", "camera", "cursor"} so the Qt layer can sync sliders and links.

2D images (``volume.meta.is_2d``): the axial pane shows the image as stored; coronal/sagittal
panes show a "2D image" message instead of a one-pixel-thick line.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from vtkmodules.vtkRenderingCore import (
    vtkImageProperty,
    vtkImageSlice,
    vtkImageSliceMapper,
    vtkRenderer,
    vtkRenderWindow,
    vtkRenderWindowInteractor,
    vtkTextActor,
)

from ..model import Heatmap, LabelMap, Volume
from . import _vtk_modules  # noqa: F401  (registers OpenGL/FreeType factory overrides)
from .annotations import (
    CornerText,
    Crosshair,
    EllipseAnnotation,
    Measurement,
    OrientationLetters,
    RulerAnnotation,
    ScaleBar,
)
from .orientation import ORIENTATIONS, PlaneAxes, plane_axes
from .presets import auto_window, is_ct
from .vtk_bridge import VtkVolume, grid_to_lps_matrix, volume_to_vtk


class SliceView:
    """A 2D MPR pane drawing into ``render_window`` (its own renderer, optionally a sub-viewport)."""

    def __init__(
        self,
        render_window: vtkRenderWindow,
        orientation: str,
        interactor: vtkRenderWindowInteractor | None = None,
        viewport: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
    ) -> None:
        if orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {ORIENTATIONS}, got {orientation!r}")
        self.render_window = render_window
        self.orientation = orientation
        self.renderer = vtkRenderer()
        self.renderer.SetViewport(*viewport)
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        render_window.AddRenderer(self.renderer)

        self.mapper = vtkImageSliceMapper()
        self.mapper.BorderOn()  # draw edge voxels full size, not cut at their centres
        self.mapper.SliceAtFocalPointOff()
        self.mapper.SliceFacesCameraOff()
        self.image_property = vtkImageProperty()
        self.image_property.SetInterpolationTypeToNearest()  # show the stored voxels as they are
        self.image_slice = vtkImageSlice()
        self.image_slice.SetMapper(self.mapper)
        self.image_slice.SetProperty(self.image_property)
        self.image_slice.VisibilityOff()
        self.renderer.AddViewProp(self.image_slice)
        self.renderer.GetActiveCamera().ParallelProjectionOn()

        self.letters = OrientationLetters(self.renderer)
        self.scale_bar = ScaleBar(self.renderer)
        self.corner_text = CornerText(self.renderer)
        self.crosshair = Crosshair(self.renderer)
        self.message = vtkTextActor()
        self.message.GetTextProperty().SetFontSize(18)
        self.message.GetTextProperty().SetJustificationToCentered()
        self.message.GetTextProperty().SetVerticalJustificationToCentered()
        self.message.GetTextProperty().SetColor(0.8, 0.8, 0.8)
        self.message.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.message.GetPositionCoordinate().SetValue(0.5, 0.5)
        self.message.VisibilityOff()
        self.renderer.AddViewProp(self.message)
        self.renderer.AddObserver("StartEvent", self._before_render)

        self.volume: Volume | None = None
        self.vtk_volume: VtkVolume | None = None
        self.axes: PlaneAxes | None = None
        self.supported = False
        self.slice_index = 0
        self.n_slices = 0
        self.window: tuple[float, float] = (0.0, 1.0)
        self.units = ""
        self.cursor_lps: np.ndarray | None = None
        self.measurements: list[Measurement] = []
        self.corner_text_visible = True
        self.auto_render = True
        self.listeners: list[Callable[[SliceView, str], None]] = []
        self._fit_scale = 1.0
        self._overlays = None  # SliceOverlays, created by the first set_label_map / set_heatmap
        self.interaction = None
        if interactor is not None:
            from .interaction import SliceInteraction

            self.interaction = SliceInteraction(self, interactor)

    # -- volume -----------------------------------------------------------------------------
    def set_volume(self, volume: Volume) -> None:
        """Show ``volume`` (zero-copy; the view keeps it referenced), centred slice, auto window."""
        for m in list(self.measurements):
            m.remove()
        if self._overlays is not None and not self._overlays.matches(volume.array.shape):
            self._overlays.clear()  # overlays on another grid cannot be drawn on this volume
        self.volume = volume
        self.vtk_volume = volume_to_vtk(volume)
        self.axes = plane_axes(volume.direction, self.orientation, volume.meta.is_2d)
        self.supported = not (volume.meta.is_2d and self.orientation != "axial")
        self.units = volume.meta.units or ("HU" if is_ct(volume) else "")
        self.cursor_lps = None
        self.crosshair.set_segments(None)
        if not self.supported:
            self.image_slice.VisibilityOff()
            self.letters.set_visible(False)
            self.scale_bar.set_visible(False)
            self.message.SetInput(f"2D image\n(no {self.orientation} view)")
            self.message.VisibilityOn()
            self.n_slices, self.slice_index = 0, 0
            self._update_corner_text()
            self._notify("volume")
            self._maybe_render()
            return
        self.message.VisibilityOff()
        self.letters.set_visible(True)
        self.scale_bar.set_visible(True)
        self.mapper.SetInputData(self.vtk_volume.image)
        self.mapper.SetOrientation(self.axes.slice_axis)
        self.image_slice.SetUserMatrix(grid_to_lps_matrix(volume.geometry))
        self.image_slice.VisibilityOn()
        self.n_slices = volume.shape_xyz[self.axes.slice_axis]
        self.slice_index = self.n_slices // 2
        self.mapper.SetSliceNumber(self.slice_index)
        self.letters.set_labels(self.axes.labels())
        c, w = auto_window(volume)
        self._apply_window(c, w)
        self.reset_camera(render=False)
        self._update_corner_text()
        self._notify("volume")
        self._maybe_render()

    def refresh_data(self) -> None:
        """The volume's array was filled in place (progressive load): re-read and redraw.

        Only the displayed slice is re-extracted by the mapper, so calling this for every batch
        of slices a loader delivers is cheap.
        """
        if self.vtk_volume is not None:
            self.vtk_volume.modified()
            self._update_corner_text()
        self._maybe_render()

    @property
    def orientation_labels(self) -> dict[str, str]:
        """Letters drawn at the screen edges, e.g. {"left": "R", "right": "L", "top": "A", "bottom": "P"}."""
        if self.axes is None or not self.supported:
            return {"left": "", "right": "", "top": "", "bottom": ""}
        return self.axes.labels()

    # -- slices -----------------------------------------------------------------------------
    def set_slice(self, index: int) -> None:
        """Show slice ``index`` (clamped to 0..n_slices-1) along this pane's grid slice axis."""
        if not self.supported or self.n_slices == 0:
            return
        index = int(min(max(int(index), 0), self.n_slices - 1))
        changed = index != self.slice_index
        self.slice_index = index
        self.mapper.SetSliceNumber(index)
        for m in self.measurements:
            m.update_visibility(index)
        self._update_crosshair()
        self._update_corner_text()
        if changed:
            self._notify("slice")
        self._maybe_render()

    def scroll(self, delta: int) -> None:
        """Move ``delta`` slices (positive = increasing grid index)."""
        self.set_slice(self.slice_index + int(delta))

    def slice_of_lps(self, lps) -> int:
        """Index of this pane's slice nearest to an LPS point (clamped into the volume)."""
        ijk = self.volume.lps_to_index(lps)
        k = int(np.floor(ijk[self.axes.slice_axis] + 0.5))
        return int(min(max(k, 0), max(self.n_slices - 1, 0)))

    def project_to_plane(self, lps, slice_index: int | None = None) -> np.ndarray:
        """Move an LPS point along the slice axis onto slice ``slice_index`` (default: current)."""
        ijk = np.array(self.volume.lps_to_index(lps), dtype=float)
        ijk[self.axes.slice_axis] = self.slice_index if slice_index is None else slice_index
        return self.volume.index_to_lps(ijk)

    # -- window/level -----------------------------------------------------------------------
    def set_window(self, centre: float, width: float) -> None:
        """Window/level as (centre, width) in the volume's units (HU for CT)."""
        self._apply_window(centre, width)
        self._update_corner_text()
        self._notify("window")
        self._maybe_render()

    def _apply_window(self, centre: float, width: float) -> None:
        width = max(float(width), 1e-6)
        self.window = (float(centre), width)
        self.image_property.SetColorLevel(float(centre))
        self.image_property.SetColorWindow(width)

    def set_interpolation(self, mode: str) -> None:
        """ "nearest" (default: the stored voxels) or "linear" (smoother when zoomed in)."""
        if mode == "linear":
            self.image_property.SetInterpolationTypeToLinear()
        else:
            self.image_property.SetInterpolationTypeToNearest()
        self._maybe_render()

    # -- cursor, picking --------------------------------------------------------------------
    def set_cursor_lps(self, lps) -> None:
        """Linked cursor: go to the slice containing ``lps`` and draw the crosshair through it."""
        if not self.supported or self.volume is None:
            return
        self.cursor_lps = np.asarray(lps, dtype=float)
        self._notify("cursor")
        self.set_slice(self.slice_of_lps(self.cursor_lps))
        self._update_crosshair()
        self._maybe_render()

    def clear_cursor(self) -> None:
        self.cursor_lps = None
        self.crosshair.set_segments(None)
        self._maybe_render()

    def display_to_lps(self, x: float, y: float) -> np.ndarray | None:
        """The LPS point on the current slice plane under display pixel (x, y) (bottom-left origin).

        None when no volume is shown or the pixel is outside this pane's viewport.
        """
        if not self.supported or self.volume is None or not self.renderer.IsInViewport(int(x), int(y)):
            return None
        ren = self.renderer
        ren.SetDisplayPoint(float(x), float(y), 0.0)
        ren.DisplayToWorld()
        wx, wy, wz, ww = ren.GetWorldPoint()
        p = np.array([wx, wy, wz]) / (ww if ww else 1.0)
        d = np.asarray(ren.GetActiveCamera().GetDirectionOfProjection(), dtype=float)
        p0 = self.project_to_plane(self.volume.index_to_lps(np.zeros(3)))
        n = self.volume.direction[:, self.axes.slice_axis]
        denom = float(d @ n)
        if abs(denom) < 1e-9:
            return None
        return p + d * float((p0 - p) @ n) / denom

    def lps_to_display(self, lps) -> tuple[float, float]:
        """Display pixel (x, y), bottom-left origin, of an LPS point (for hit-testing handles)."""
        ren = self.renderer
        ren.SetWorldPoint(*(float(c) for c in lps), 1.0)
        ren.WorldToDisplay()
        x, y, _ = ren.GetDisplayPoint()
        return (x, y)

    def readout(self, x: float, y: float) -> dict | None:
        """Cursor readout at display (x, y): voxel index, LPS mm and value, or None off the volume.

        ``ijk`` is the voxel whose centre is nearest; ``lps`` the exact point under the mouse;
        ``voxel_lps`` the centre of that voxel.
        """
        lps = self.display_to_lps(x, y)
        if lps is None:
            return None
        ijk_c = self.volume.lps_to_index(lps)
        ijk = [int(np.floor(v + 0.5)) for v in ijk_c]
        ijk[self.axes.slice_axis] = self.slice_index
        if not self.volume.contains_index(ijk):
            return None
        return {
            "ijk": tuple(ijk),
            "lps": tuple(float(v) for v in lps),
            "voxel_lps": tuple(float(v) for v in self.volume.index_to_lps(ijk)),
            "value": self.volume.value_at(ijk),
            "units": self.units,
        }

    # -- camera -----------------------------------------------------------------------------
    def reset_camera(self, render: bool = True) -> None:
        """Fit the slice to the pane, centred, with the radiological viewing direction."""
        if self.volume is None or self.axes is None or not self.supported:
            return
        vol = self.volume
        shape = np.array(vol.shape_xyz, dtype=float)
        centre = vol.index_to_lps((shape - 1) / 2.0)
        extent = shape * np.asarray(vol.spacing)
        diag = float(np.linalg.norm(extent)) + 1.0
        normal, up = np.asarray(self.axes.normal), np.asarray(self.axes.up)
        cam = self.renderer.GetActiveCamera()
        cam.SetFocalPoint(*centre)
        cam.SetPosition(*(centre + normal * 2.0 * diag))
        cam.SetViewUp(*up)
        cam.SetClippingRange(diag * 0.5, diag * 3.5)
        w, h = self.renderer.GetSize()
        aspect = (w / h) if w > 0 and h > 0 else 1.0
        half_h = extent[self.axes.v_axis] / 2.0
        half_w = extent[self.axes.u_axis] / 2.0
        self._fit_scale = max(half_h, half_w / aspect) * 1.02
        cam.SetParallelScale(self._fit_scale)
        self._notify("camera")
        if render:
            self._maybe_render()

    def zoom(self, factor: float) -> None:
        """Magnify by ``factor`` (> 1 zooms in) about the pane centre."""
        if factor > 0:
            self.renderer.GetActiveCamera().Zoom(float(factor))
            self._notify("camera")
            self._maybe_render()

    @property
    def zoom_factor(self) -> float:
        """Magnification relative to the fitted view (1.0 after reset_camera)."""
        return self._fit_scale / max(self.renderer.GetActiveCamera().GetParallelScale(), 1e-12)

    def pan(self, dx: float, dy: float) -> None:
        """Move the image by (dx, dy) display pixels (x right, y up)."""
        cam = self.renderer.GetActiveCamera()
        mmpp = self.scale_bar.mm_per_pixel() or 1.0
        right = np.cross(np.asarray(cam.GetDirectionOfProjection()), np.asarray(cam.GetViewUp()))
        shift = -(dx * right + dy * np.asarray(cam.GetViewUp())) * mmpp
        cam.SetFocalPoint(*(np.asarray(cam.GetFocalPoint()) + shift))
        cam.SetPosition(*(np.asarray(cam.GetPosition()) + shift))
        self._notify("camera")
        self._maybe_render()

    # -- annotations ------------------------------------------------------------------------
    def set_corner_text_visible(self, on: bool) -> None:
        """Show/hide the patient/study corner text (W/L, slice and zoom stay with it)."""
        self.corner_text_visible = bool(on)
        self.corner_text.set_visible(self.corner_text_visible)
        self._maybe_render()

    def set_crosshair_visible(self, on: bool) -> None:
        self.crosshair.lines.actor.SetVisibility(bool(on) and self.cursor_lps is not None)
        self._maybe_render()

    def add_ruler(self, p_lps, q_lps) -> RulerAnnotation:
        """Draw a ruler between two LPS points, shown on the slice of ``p_lps``.

        The returned object has ``distance_mm``, ``label_text``, ``set_points(p, q)`` to drag an
        end point and ``remove()``.
        """
        ruler = RulerAnnotation(self, p_lps, q_lps)
        self.measurements.append(ruler)
        self._maybe_render()
        return ruler

    def add_ellipse(self, centre_lps, radii_mm) -> EllipseAnnotation:
        """Draw an elliptical ROI on the slice of ``centre_lps``; radii along screen right/up (mm).

        The returned object has ``stats`` (see :func:`medlens.viewer.measure.ellipse_roi_stats`),
        ``label_text``, ``set_geometry(centre, radii)`` and ``remove()``.
        """
        ellipse = EllipseAnnotation(self, centre_lps, radii_mm)
        self.measurements.append(ellipse)
        self._maybe_render()
        return ellipse

    # -- overlays (label map, heatmap, legend: see .overlays) --------------------------------
    @property
    def overlays(self):
        """The pane's :class:`~.overlays.SliceOverlays` (created on first use)."""
        if self._overlays is None:
            from .overlays import SliceOverlays

            self._overlays = SliceOverlays(self)
        return self._overlays

    @property
    def label_map(self) -> LabelMap | None:
        """The label map drawn on this pane (None when none)."""
        return self._overlays.labels.label_map if self._overlays is not None else None

    @property
    def heatmap(self) -> Heatmap | None:
        """The heatmap drawn on this pane (None when none)."""
        return self._overlays.heatmap.heatmap if self._overlays is not None else None

    def set_label_map(
        self, lm: LabelMap | None, opacity: float = 0.5, outline: bool = False, fill: bool = True
    ) -> None:
        """Draw ``lm`` (zero-copy, on the volume's grid) in its labels' colours; None removes it.

        ``fill`` colours the inside at ``opacity``; ``outline`` draws the in-plane boundary.
        """
        self.overlays.set_label_map(lm, opacity, outline, fill)
        self._maybe_render()

    def update_label_map(self, bounds_zyx: tuple[slice, slice, slice] | None = None) -> None:
        """``lm.array`` was edited in place (inside ``bounds_zyx`` if given): redraw cheaply.

        Only the displayed slice is re-extracted, and nothing is drawn when the edit is elsewhere.
        """
        if self._overlays is not None and self._overlays.update_label_map(bounds_zyx):
            self._maybe_render()

    def set_label_visible(self, value: int, visible: bool) -> None:
        self.overlays.set_label_visible(value, visible)
        self._maybe_render()

    def set_label_opacity(self, opacity: float) -> None:
        self.overlays.set_label_opacity(opacity)
        self._maybe_render()

    def set_label_style(self, outline: bool, fill: bool) -> None:
        """Switch between filled, outlined, or both, keeping the label map and its colours."""
        self.overlays.set_label_style(outline, fill)
        self._maybe_render()

    def set_heatmap(
        self,
        hm: Heatmap | None,
        cmap: str = "inferno",
        opacity: float = 0.5,
        threshold: float | None = None,
    ) -> None:
        """Draw ``hm`` through colour map ``cmap``; values below ``threshold`` are transparent."""
        self.overlays.set_heatmap(hm, cmap, opacity, threshold)
        self._maybe_render()

    def set_heatmap_threshold(self, threshold: float | None) -> None:
        self.overlays.set_heatmap_threshold(threshold)
        self._maybe_render()

    def set_heatmap_opacity(self, opacity: float) -> None:
        self.overlays.set_heatmap_opacity(opacity)
        self._maybe_render()

    def set_heatmap_visible(self, visible: bool) -> None:
        self.overlays.set_heatmap_visible(visible)
        self._maybe_render()

    def set_legend_visible(self, visible: bool) -> None:
        self.overlays.legend.set_enabled(visible)
        self._maybe_render()

    # -- rendering --------------------------------------------------------------------------
    def render(self) -> None:
        self.render_window.Render()

    def _maybe_render(self) -> None:
        if self.auto_render:
            self.render()

    def dispose(self) -> None:
        """Detach from the render window and drop the volume (call before Finalize)."""
        self.render_window.RemoveRenderer(self.renderer)
        self.mapper.RemoveAllInputs()
        if self._overlays is not None:
            self._overlays.dispose()
        self.volume = None
        self.vtk_volume = None

    def _notify(self, what: str) -> None:
        for cb in list(self.listeners):
            cb(self, what)

    def _before_render(self, *_args) -> None:
        self.scale_bar.update()
        if self.supported:
            zoom = f"{self.orientation}\nzoom {self.zoom_factor * 100:.0f}%"
            self.corner_text.set(CornerText.LOWER_RIGHT, zoom)

    def _update_crosshair(self) -> None:
        if self.cursor_lps is None or self.volume is None:
            self.crosshair.set_segments(None)
            return
        ax = self.axes
        shape = self.volume.shape_xyz
        c = np.array(self.volume.lps_to_index(self.cursor_lps), dtype=float)
        c[ax.slice_axis] = self.slice_index
        segs = []
        for along in (ax.u_axis, ax.v_axis):
            a, b = c.copy(), c.copy()
            a[along], b[along] = -0.5, shape[along] - 0.5
            segs.append(self.volume.index_to_lps(np.vstack([a, b])))
        self.crosshair.set_segments(segs)

    def _update_corner_text(self) -> None:
        meta = self.volume.meta if self.volume is not None else None
        if meta is None:
            return
        ct = self.corner_text
        ct.set(CornerText.UPPER_LEFT, "\n".join(s for s in (meta.patient_name, meta.patient_id) if s))
        ct.set(CornerText.UPPER_RIGHT, "\n".join(s for s in (meta.study_date, meta.series_description) if s))
        if self.supported:
            c, w = self.window
            loading = "" if meta.complete else "  (loading)"
            ct.set(
                CornerText.LOWER_LEFT,
                f"W {w:.0f}  L {c:.0f}\nslice {self.slice_index + 1}/{self.n_slices}{loading}",
            )
        else:
            ct.set(CornerText.LOWER_LEFT, "")
