"""3D volume rendering of a Volume with CT bone / CT soft tissue / MR presets.

Mapper choice (measured on this project's OSMesa/llvmpipe set-up, 256x256x128 int16, 512^2
window): ``vtkFixedPointVolumeRayCastMapper`` (multi-threaded CPU) ~8 fps,
``vtkGPUVolumeRayCastMapper`` ~1.6 fps, ``vtkSmartVolumeMapper`` ~0.8 fps (it picks the GPU path
and adds its own resampling). So ``mapper="auto"`` uses the CPU ray caster on software OpenGL and
the GPU ray caster on real hardware; ``"cpu"``, ``"gpu"`` and ``"smart"`` force one.
Placement in LPS is by the prop's ``UserMatrix`` (the fixed-point mapper ignores the image
direction matrix -- see :mod:`.vtk_bridge`).

Interactive quality: while the render window's desired update rate is above 1 fps -- which every
``vtkInteractorStyle`` sets while a mouse button is down (``interactor.SetDesiredUpdateRate``) --
or after ``set_interactive(True)``, rays are cast on a coarser image grid (``ImageSampleDistance``
3 for the CPU mapper, 1.5 for the GPU one) with twice the step along each ray; when the mouse is released the
still rate applies and a full-quality frame is drawn. Fixed settings instead of VTK's automatic
adjustment make the first interactive frame fast too, and keep test timings deterministic.

Presets (transfer functions scaled to the data) come from :mod:`.presets`. A 2D image has no 3D
view: the pane shows a "2D image" message.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkPiecewiseFunction
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkRenderingCore import (
    vtkColorTransferFunction,
    vtkRenderer,
    vtkRenderWindow,
    vtkRenderWindowInteractor,
    vtkTextActor,
    vtkVolume,
    vtkVolumeProperty,
)
from vtkmodules.vtkRenderingVolume import vtkFixedPointVolumeRayCastMapper, vtkGPUVolumeRayCastMapper
from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

from ..model import LabelMap, Volume
from . import _vtk_modules  # noqa: F401
from .presets import VOLUME_PRESETS, is_ct, volume_preset_points
from .vtk_bridge import VtkVolume, grid_to_lps_matrix, is_software_gl, volume_to_vtk


class VolumeView:
    """A 3D pane: ray-cast volume rendering with presets and interactive level of detail."""

    PRESETS = VOLUME_PRESETS
    INTERACTIVE_UPDATE_RATE = 10.0  # fps asked for while rotating
    STILL_UPDATE_RATE = 0.001
    CPU_INTERACTIVE_IMAGE_SAMPLE = 3.0  # one ray per 3x3 pixels while rotating on the CPU mapper

    def __init__(
        self,
        render_window: vtkRenderWindow,
        interactor: vtkRenderWindowInteractor | None = None,
        viewport: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
        mapper: str = "auto",
    ) -> None:
        if mapper not in ("auto", "cpu", "gpu", "smart"):
            raise ValueError(f"mapper must be auto, cpu, gpu or smart, got {mapper!r}")
        self.render_window = render_window
        self.renderer = vtkRenderer()
        self.renderer.SetViewport(*viewport)
        self.renderer.SetBackground(0.05, 0.05, 0.08)
        render_window.AddRenderer(self.renderer)
        self.mapper_choice = mapper
        self.mapper = None
        self.mapper_kind = ""
        self.volume_property = vtkVolumeProperty()
        self.volume_property.SetInterpolationTypeToLinear()
        self.volume_property.SetAmbient(0.25)
        self.volume_property.SetDiffuse(0.75)
        self.volume_property.SetSpecular(0.2)
        self.prop = vtkVolume()
        self.prop.SetProperty(self.volume_property)
        self.prop.VisibilityOff()
        self.renderer.AddVolume(self.prop)
        self.message = vtkTextActor()
        tp = self.message.GetTextProperty()
        tp.SetFontSize(18)
        tp.SetJustificationToCentered()
        tp.SetVerticalJustificationToCentered()
        tp.SetColor(0.8, 0.8, 0.8)
        self.message.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.message.GetPositionCoordinate().SetValue(0.5, 0.5)
        self.message.VisibilityOff()
        self.renderer.AddViewProp(self.message)
        self.renderer.AddObserver("StartEvent", self._before_render)

        self.volume: Volume | None = None
        self.vtk_volume: VtkVolume | None = None
        self.preset: str | None = None
        self.forced_interactive = False
        self.interactive = False
        self.auto_render = True
        self._still_sample = 1.0
        self._surfaces = None  # LabelSurfaces, created by the first set_label_surfaces
        self.interactor = interactor
        if interactor is not None:
            if interactor.GetRenderWindow() is None:
                interactor.SetRenderWindow(render_window)
            interactor.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
            interactor.SetDesiredUpdateRate(self.INTERACTIVE_UPDATE_RATE)
            interactor.SetStillUpdateRate(self.STILL_UPDATE_RATE)

    # -- data -------------------------------------------------------------------------------
    def set_volume(self, volume: Volume) -> None:
        """Render ``volume`` (zero-copy); picks the preset from the modality (CT bone / MR)."""
        self.volume = volume
        if volume.meta.is_2d:
            self.vtk_volume = None
            self.prop.VisibilityOff()
            self.message.SetInput("2D image\n(no 3D view)")
            self.message.VisibilityOn()
            self._maybe_render()
            return
        self.message.VisibilityOff()
        self.vtk_volume = volume_to_vtk(volume)
        if self.mapper is None and self._can_choose_mapper_now():
            self._install_mapper()
        if self.mapper is not None:  # else: chosen at the first frame, when the GL context exists
            self.mapper.SetInputData(self.vtk_volume.image)
        self.prop.SetUserMatrix(grid_to_lps_matrix(volume.geometry))
        # half a voxel per step on a GPU; a whole voxel on the CPU ray caster (2x faster, and its
        # trilinear interpolation already hides the steps at that rate)
        factor = 1.0 if self.mapper_kind == "cpu" or self.mapper is None else 0.5
        self._still_sample = max(min(volume.spacing) * factor, 0.1)
        self.prop.VisibilityOn()
        self._apply_preset(self.preset if self.preset else ("CT bone" if is_ct(volume) else "MR"))
        self.reset_camera(render=False)
        self._maybe_render()

    def refresh_data(self) -> None:
        """The array was filled in place (progressive load): re-upload and redraw."""
        if self.vtk_volume is not None:
            self.vtk_volume.modified()
        self._maybe_render()

    def _can_choose_mapper_now(self) -> bool:
        """Forced kinds and OSMesa windows need no GL query; otherwise wait for a context."""
        return self.mapper_choice != "auto" or "OSOpenGL" in self.render_window.GetClassName()

    def _install_mapper(self) -> None:
        self.mapper = self._make_mapper()
        self.prop.SetMapper(self.mapper)
        if self.vtk_volume is not None:
            self.mapper.SetInputData(self.vtk_volume.image)

    def _make_mapper(self):
        # "auto" asks the driver (GL_RENDERER) which needs a live context: on a Qt widget this runs
        # from the first frame's StartEvent, never before the window is realised.
        kind = self.mapper_choice
        if kind == "auto":
            kind = "cpu" if is_software_gl(self.render_window) else "gpu"
        self.mapper_kind = kind
        if kind == "cpu":
            m = vtkFixedPointVolumeRayCastMapper()
        elif kind == "gpu":
            m = vtkGPUVolumeRayCastMapper()
        else:
            m = vtkSmartVolumeMapper()
            m.SetInteractiveUpdateRate(self.INTERACTIVE_UPDATE_RATE / 2.0)
        if hasattr(m, "AutoAdjustSampleDistancesOff") and kind != "smart":
            m.AutoAdjustSampleDistancesOff()
        return m

    # -- presets ----------------------------------------------------------------------------
    def set_preset(self, name: str) -> None:
        """Switch transfer functions: one of :attr:`PRESETS`, scaled to the current volume."""
        if name not in self.PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {self.PRESETS}")
        self.preset = name
        if self.volume is not None and self.vtk_volume is not None:
            self._apply_preset(name)
        self._maybe_render()

    def _apply_preset(self, name: str) -> None:
        self.preset = name
        pts = volume_preset_points(name, self.volume)
        opacity = vtkPiecewiseFunction()
        for x, a in pts["opacity"]:
            opacity.AddPoint(x, a)
        color = vtkColorTransferFunction()
        for x, r, g, b in pts["color"]:
            color.AddRGBPoint(x, r, g, b)
        self.volume_property.SetScalarOpacity(opacity)
        self.volume_property.SetColor(color)
        self.volume_property.SetShade(bool(pts["shade"]))
        # opacity is per unit length; keep the look independent of voxel size
        self.volume_property.SetScalarOpacityUnitDistance(float(np.mean(self.volume.spacing)))

    # -- label surfaces (see .surfaces) ------------------------------------------------------
    def set_label_surfaces(self, lm: LabelMap | None, surfaces: list | None = None) -> None:
        """Show one smoothed surface per label of ``lm`` in its colour; None removes them.

        ``surfaces`` (from :func:`.surfaces.build_label_surfaces`, e.g. computed on a worker
        thread) skips the surface extraction here. Without a volume the camera frames the surfaces.
        """
        from .surfaces import LabelSurfaces, build_label_surfaces

        if self._surfaces is None:
            self._surfaces = LabelSurfaces(self.renderer)
        if lm is None:
            self._surfaces.clear()
        else:
            self._surfaces.set_surfaces(surfaces if surfaces is not None else build_label_surfaces(lm))
            if self.volume is None and (b := self._surfaces.bounds()) is not None:
                self.renderer.ResetCamera(*b)
        self.renderer.ResetCameraClippingRange()
        self._maybe_render()

    @property
    def label_surfaces(self):
        """The :class:`~.surfaces.LabelSurfaces` shown (None before the first call)."""
        return self._surfaces

    def set_label_surface_visible(self, value: int, visible: bool) -> None:
        if self._surfaces is not None:
            self._surfaces.set_visible(value, visible)
            self._maybe_render()

    # -- camera / quality -------------------------------------------------------------------
    def reset_camera(self, render: bool = True) -> None:
        """Anterior view (patient facing the viewer, patient left on screen right), S up."""
        if self.volume is None or self.vtk_volume is None:
            return
        vol = self.volume
        shape = np.array(vol.shape_xyz, dtype=float)
        centre = vol.index_to_lps((shape - 1) / 2.0)
        cam = self.renderer.GetActiveCamera()
        cam.SetFocalPoint(*centre)
        cam.SetPosition(*(centre + np.array([0.0, -1.0, 0.0])))  # from anterior (-y in LPS)
        cam.SetViewUp(0.0, 0.0, 1.0)
        # bounds from the geometry, not the prop: the mapper may not exist yet (deferred "auto")
        corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)]) * (shape - 1)
        lps = vol.index_to_lps(corners)
        bounds = np.column_stack([lps.min(axis=0), lps.max(axis=0)]).ravel()
        self.renderer.ResetCamera(*bounds)
        cam.Zoom(1.3)  # ResetCamera fits the bounding sphere; the box corners rarely matter
        self.renderer.ResetCameraClippingRange()
        if render:
            self._maybe_render()

    def rotate(self, azimuth: float = 0.0, elevation: float = 0.0) -> None:
        """Turn the camera about the volume (degrees); for scripted views and benchmarks."""
        cam = self.renderer.GetActiveCamera()
        cam.Azimuth(azimuth)
        cam.Elevation(elevation)
        cam.OrthogonalizeViewUp()
        self.renderer.ResetCameraClippingRange()
        self._maybe_render()

    def set_interactive(self, on: bool) -> None:
        """Force interactive (coarse, fast) or still (full) quality regardless of the mouse."""
        self.forced_interactive = bool(on)

    def _before_render(self, *_args) -> None:
        if self.mapper is None:
            if self.vtk_volume is None:
                return
            self._install_mapper()
        interactive = self.forced_interactive or self.render_window.GetDesiredUpdateRate() > 1.0
        self.interactive = interactive
        m = self.mapper
        if self.mapper_kind == "smart":
            return  # the smart mapper reads the desired update rate itself
        step = self._still_sample * (2.0 if interactive else 1.0)
        m.SetSampleDistance(step)
        if self.mapper_kind == "cpu":
            m.SetImageSampleDistance(self.CPU_INTERACTIVE_IMAGE_SAMPLE if interactive else 1.0)
            m.SetInteractiveSampleDistance(step)
        else:
            m.SetImageSampleDistance(1.5 if interactive else 1.0)

    def render(self) -> None:
        self.render_window.Render()

    def _maybe_render(self) -> None:
        if self.auto_render:
            self.render()

    def dispose(self) -> None:
        """Detach from the render window and drop the volume (call before Finalize)."""
        self.render_window.RemoveRenderer(self.renderer)
        if self.mapper is not None:
            self.mapper.RemoveAllInputs()
        if self._surfaces is not None:
            self._surfaces.clear()
        self.volume = None
        self.vtk_volume = None
