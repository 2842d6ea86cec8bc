"""PyInstaller runtime hook of the frozen MedLens (runs before any app module is imported).

Without an X server or Wayland (a server, a CI runner, ``QT_QPA_PLATFORM=offscreen``) VTK must use
its OSMesa render window; with ``DISPLAY`` unset it would otherwise try X and abort. The vtk wheel
loads ``libOSMesa`` from the system at run time (Debian: ``libosmesa6``), so headless use of the
frozen build needs that one library, and nothing else from the host's Python.
"""

import os
import sys

if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")
