"""Zero-copy hand-off of a :class:`~medlens.viewer.model.Volume` to VTK, and pixel read-back.

Memory layout
-------------
A C-contiguous ``(z, y, x)`` numpy array is, byte for byte, VTK's point-data layout (x fastest,
then y, then z), so ``numpy_to_vtk(array.reshape(-1), deep=False)`` wraps the very same buffer --
for a SimpleITK image that is the image's own pixel buffer. VTK does not own that memory, so the
returned :class:`VtkVolume` keeps the ``Volume`` (and, through ``Volume.owner``, the SimpleITK image)
referenced for as long as the ``vtkImageData`` is in use. Only a non-contiguous array (a strided
view) forces a copy, and that is reported through ``VtkVolume.copied``. ``bool`` arrays are viewed
as ``uint8`` (same bytes, no copy).

Placement in patient space
--------------------------
VTK 9.7's ``vtkImageData`` has a direction matrix, and it is honoured by ``vtkImageSliceMapper``,
``vtkImageResliceMapper``, ``vtkGPUVolumeRayCastMapper`` and ``vtkSmartVolumeMapper`` -- but
*not* by ``vtkFixedPointVolumeRayCastMapper`` (checked: it draws the grid axis-aligned), which is
the fastest 3D mapper on software OpenGL. So the image data carries only the spacing (origin 0,
identity direction), and origin + direction go into the prop's ``UserMatrix``
(:func:`grid_to_lps_matrix`), which every mapper honours. World coordinates of every renderer
are therefore LPS millimetres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkDataArray
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkRenderingCore import vtkRenderWindow, vtkWindowToImageFilter

from ..model import Geometry, Volume


@dataclass(eq=False)
class VtkVolume:
    """A ``vtkImageData`` viewing a Volume's voxels, plus what keeps that memory alive."""

    image: vtkImageData
    scalars: vtkDataArray
    volume: Volume
    flat: np.ndarray  # the 1-D view VTK points into
    copied: bool = False
    _keep: list[Any] = field(default_factory=list)

    def modified(self) -> None:
        """Tell VTK the voxels changed in place (progressive loading): only re-executes what draws."""
        self.scalars.Modified()
        self.image.Modified()


def volume_to_vtk(volume: Volume) -> VtkVolume:
    """Wrap ``volume.array`` in a ``vtkImageData`` without copying (see module docstring)."""
    array = volume.array
    copied = False
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
        copied = True
    if array.dtype.byteorder not in ("=", "|"):
        array = array.astype(array.dtype.newbyteorder("="))
        copied = True
    flat = array.reshape(-1)  # a view for C-contiguous arrays
    scalars = numpy_to_vtk(flat, deep=False)
    scalars.SetName("scalars")
    image = vtkImageData()
    nz, ny, nx = array.shape
    image.SetDimensions(nx, ny, nz)
    image.SetSpacing(*volume.geometry.spacing)
    image.SetOrigin(0.0, 0.0, 0.0)
    image.GetPointData().SetScalars(scalars)
    return VtkVolume(image=image, scalars=scalars, volume=volume, flat=flat, copied=copied, _keep=[array])


def grid_to_lps_matrix(geometry: Geometry) -> vtkMatrix4x4:
    """4x4 matrix from the image data's frame (spacing-scaled index, origin 0) to LPS mm."""
    m = np.eye(4)
    m[:3, :3] = geometry.direction_matrix
    m[:3, 3] = geometry.origin
    out = vtkMatrix4x4()
    out.DeepCopy(m.ravel().tolist())
    return out


def capture(render_window: vtkRenderWindow, render: bool = True) -> np.ndarray:
    """The window's pixels as an RGB uint8 array ``(h, w, 3)``, top row first.

    Reads the back buffer through ``vtkWindowToImageFilter`` after a render, which works on
    offscreen/OSMesa windows where grabbing a widget does not.
    """
    if render:
        render_window.Render()
    f = vtkWindowToImageFilter()
    f.SetInput(render_window)
    f.SetInputBufferTypeToRGB()
    f.ReadFrontBufferOff()
    f.ShouldRerenderOff()
    f.Update()
    out = f.GetOutput()
    w, h, _ = out.GetDimensions()
    pixels = vtk_to_numpy(out.GetPointData().GetScalars()).reshape(h, w, -1)[:, :, :3]
    return np.ascontiguousarray(pixels[::-1])


def is_software_gl(render_window: vtkRenderWindow) -> bool:
    """True on OSMesa / llvmpipe / swrast, where CPU ray casting beats "GPU" ray casting."""
    if "OSOpenGL" in render_window.GetClassName():
        return True
    try:
        caps = render_window.ReportCapabilities() or ""
    except Exception:  # pragma: no cover - no context yet
        return False
    caps = caps.lower()
    return any(s in caps for s in ("llvmpipe", "softpipe", "swrast", "software rasterizer"))
