"""Offscreen screenshots of a volume (single pane or the 2x2 quad), no Qt needed.

Used for reports, the command line and tests: builds a throwaway offscreen ``vtkRenderWindow``
with the same :class:`SliceView` / :class:`VolumeView` panes the app shows, so a screenshot looks
like the viewer (letters, scale bar, corner text), then finalizes the window.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkIOImage import vtkPNGWriter
from vtkmodules.vtkRenderingCore import vtkRenderWindow

from ..model import Volume
from . import _vtk_modules  # noqa: F401
from .slice_view import SliceView
from .volume_view import VolumeView
from .vtk_bridge import capture

LAYOUTS = ("axial", "coronal", "sagittal", "3d", "quad")

# quad: axial top-left, coronal top-right, sagittal bottom-left, 3D bottom-right
_QUAD = {
    "axial": (0.0, 0.5, 0.5, 1.0),
    "coronal": (0.5, 0.5, 1.0, 1.0),
    "sagittal": (0.0, 0.0, 0.5, 0.5),
    "3d": (0.5, 0.0, 1.0, 0.5),
}


def write_png(rgb: np.ndarray, out_png: str | Path) -> None:
    """Write an RGB uint8 ``(h, w, 3)`` array (top row first) as a PNG."""
    rgb = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[::-1])  # VTK rows go bottom-up
    h, w, _ = rgb.shape
    image = vtkImageData()
    image.SetDimensions(w, h, 1)
    scalars = numpy_to_vtk(rgb.reshape(-1, 3), deep=True)
    image.GetPointData().SetScalars(scalars)
    writer = vtkPNGWriter()
    writer.SetFileName(str(out_png))
    writer.SetInputData(image)
    writer.Write()


def render_screenshot(
    volume: Volume,
    out_png: str | Path,
    layout: str = "quad",
    size: tuple[int, int] = (1024, 1024),
    window: tuple[float, float] | None = None,
    preset: str | None = None,
    corner_text: bool = True,
) -> np.ndarray:
    """Render ``volume`` offscreen in ``layout`` and write ``out_png``; returns the RGB array.

    ``window`` = (centre, width) for the slice panes (default :func:`auto_window`); ``preset`` is
    the 3D preset (default by modality).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    rw = vtkRenderWindow()
    rw.SetOffScreenRendering(1)
    rw.SetSize(int(size[0]), int(size[1]))
    panes = list(_QUAD) if layout == "quad" else [layout]
    views: list = []
    try:
        for name in panes:
            viewport = _QUAD[name] if layout == "quad" else (0.0, 0.0, 1.0, 1.0)
            if name == "3d":
                view = VolumeView(rw, viewport=viewport)
                view.auto_render = False
                view.set_volume(volume)
                if preset:
                    view.set_preset(preset)
            else:
                view = SliceView(rw, name, viewport=viewport)
                view.auto_render = False
                view.set_volume(volume)
                view.set_corner_text_visible(corner_text)
                if window is not None:
                    view.set_window(*window)
            views.append(view)
        rw.Render()
        for view in views:  # the fitted zoom depends on the viewport size, known after a render
            if isinstance(view, SliceView):
                view.reset_camera(render=False)
        rgb = capture(rw)
        write_png(rgb, out_png)
        return rgb
    finally:
        for view in views:
            view.dispose()
        rw.Finalize()
