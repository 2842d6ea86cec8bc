"""``medlens view PATH``: start the Qt application with the main window.

The display check runs before Qt is imported: without one, Qt's xcb plugin aborts the whole
process with a message about plugins that does not tell a user what to do.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

NO_DISPLAY_HINT = (
    "medlens view needs a display, and none was found (DISPLAY / WAYLAND_DISPLAY are not set).\n"
    "  - on a server, run it under a virtual X server:  xvfb-run -a medlens view PATH\n"
    "  - to render images without any display, use:      medlens screenshot PATH"
)


def display_problem(env: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why the viewer cannot open a window here, or None when it can."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if env.get("QT_QPA_PLATFORM"):
        return None  # the user chose a platform plugin (offscreen, vnc, ...) on purpose
    if platform.startswith(("win", "darwin")):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return NO_DISPLAY_HINT


def _prepare_headless_vtk() -> None:
    """With Qt's offscreen platform and no X server, VTK must not try to open an X window."""
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen" and not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")


def run_viewer(paths: Sequence[str], *, quit_after_ms: int | None = None) -> int:
    """Open the viewer on ``paths`` (files or folders) and run until the window closes.

    ``quit_after_ms`` closes the window after that long (smoke tests of the entry point).
    Returns the process exit code: 0 on a normal exit, 2 when there is no display.
    """
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    _prepare_headless_vtk()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from medlens import __version__
    from medlens.app.errors import install_excepthook
    from medlens.app.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("MedLens")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("MedLens")
    window = MainWindow()
    from medlens.app.persist import install_persistence
    from medlens.app.welcome import app_icon, install_welcome

    app.setWindowIcon(app_icon())
    install_persistence(window)  # layout, docks, W/L presets, plugin folders
    install_welcome(window)  # the first-run page while nothing is loaded
    undo_hook = install_excepthook(window.show_message)
    try:
        window.show()
        if paths:
            window.show_views()
            window.open_paths(list(paths))
        if quit_after_ms is not None:
            QTimer.singleShot(quit_after_ms, window.close)
        return int(app.exec())
    finally:
        window.shutdown()
        undo_hook()
