"""VTK pipelines that draw MedLens volumes: MPR slice panes, 3D rendering, screenshots (no Qt).

The Qt layer wraps these classes in ``QVTKRenderWindowInteractor`` widgets; everything here also
runs on a plain offscreen ``vtkRenderWindow`` (OSMesa), which is how it is tested.

Public API (names re-exported here; imported lazily so that the numpy-only helpers --
:mod:`.orientation`, :mod:`.presets` -- and :mod:`medlens.viewer.measure` do not pull in VTK):

* ``ORIENTATIONS``, ``CT_PRESETS``, ``auto_window(volume)``, ``orientation_labels(direction, orientation)``
* ``SliceView(render_window, orientation, interactor=None, viewport=(0, 0, 1, 1))`` -- see
  :mod:`.slice_view`
* ``VolumeView(render_window, interactor=None, viewport=..., mapper="auto")`` -- see
  :mod:`.volume_view`
* ``render_screenshot(volume, out_png, layout="quad", size=(1024, 1024), window=None)``,
  ``capture(render_window)`` -- see :mod:`.screenshot`, :mod:`.vtk_bridge`
* ``volume_to_vtk(volume)`` -- the zero-copy bridge
* overlays: ``SliceView.set_label_map / update_label_map / set_label_visible / set_label_opacity /
  set_heatmap``, ``VolumeView.set_label_surfaces``; ``build_label_surfaces(lm)`` (worker-thread
  safe), ``COLORMAPS`` -- see :mod:`.overlays`, :mod:`.surfaces`, :mod:`.colormaps`

Modules: ``orientation`` (which grid plane a pane shows, edge letters), ``presets`` (windows,
transfer functions), ``vtk_bridge`` (zero-copy numpy -> VTK, placement, read-back),
``annotations`` (2D overlays), ``slice_view``, ``volume_view``, ``interaction`` (default mouse
handling), ``screenshot``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .orientation import ORIENTATIONS, orientation_labels
from .presets import CT_PRESETS, VOLUME_PRESETS, auto_window

__all__ = [
    "COLORMAPS",
    "CT_PRESETS",
    "ORIENTATIONS",
    "VOLUME_PRESETS",
    "SliceView",
    "VolumeView",
    "auto_window",
    "build_label_surfaces",
    "capture",
    "orientation_labels",
    "render_screenshot",
    "volume_to_vtk",
]

_LAZY = {
    "SliceView": ".slice_view",
    "VolumeView": ".volume_view",
    "render_screenshot": ".screenshot",
    "capture": ".vtk_bridge",
    "volume_to_vtk": ".vtk_bridge",
    "build_label_surfaces": ".surfaces",
    "COLORMAPS": ".colormaps",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
