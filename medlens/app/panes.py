"""The four view panes: Qt widgets hosting a VTK render window each.

Slice panes translate Qt input into display coordinates and hand it to a Qt-free
:class:`~medlens.app.interaction.SliceController`; VTK never sees their events, so no default VTK
interactor style (whose "q"/"e" keys quit and whose left-drag rotates) can interfere. The 3D pane
keeps VTK's trackball camera, which is exactly what a 3D view wants.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import vtkmodules.qt

vtkmodules.qt.PyQtImpl = "PySide6"  # before the widget module picks a binding on its own

import vtkmodules.vtkInteractionStyle  # noqa: E402 - registers the interactor styles
import vtkmodules.vtkRenderingOpenGL2  # noqa: E402 - registers the OpenGL render windows
from PySide6.QtCore import QEvent, Qt, Signal  # noqa: E402
from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QWidget  # noqa: E402
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor  # noqa: E402

from medlens.app.interaction import InteractionHooks, SliceController  # noqa: E402
from medlens.app.tools import Button  # noqa: E402

_BUTTONS = {
    Qt.MouseButton.LeftButton: Button.LEFT,
    Qt.MouseButton.MiddleButton: Button.MIDDLE,
    Qt.MouseButton.RightButton: Button.RIGHT,
}
_KEYS = {
    Qt.Key.Key_Up: "up",
    Qt.Key.Key_Down: "down",
    Qt.Key.Key_PageUp: "pageup",
    Qt.Key.Key_PageDown: "pagedown",
}


class Pane(QVTKRenderWindowInteractor):
    """A VTK widget with a name, a double-click signal and explicit teardown."""

    double_clicked = Signal(str)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.has_volume = False
        self._finalized = False
        self.setMinimumSize(120, 120)

    @property
    def render_window(self) -> Any:
        return self.GetRenderWindow()

    def draw(self) -> None:
        """Draw now if the pane is on screen; hidden panes are drawn when shown again."""
        if not self._finalized and self.isVisible():
            self.view.render()

    def capture(self) -> np.ndarray:
        """The pane's pixels (RGB, top row first), rendered now; see ``render.capture``."""
        from medlens.viewer.render import capture

        self.view.render()
        return capture(self.render_window, render=False)

    def finalize(self) -> None:
        """Release the OpenGL context; must run before the widget goes (VTK would crash later)."""
        if not self._finalized:
            self._finalized = True
            dispose = getattr(getattr(self, "view", None), "dispose", None)
            if dispose is not None:
                dispose()
            self.Finalize()

    def closeEvent(self, evt: Any) -> None:
        self.finalize()

    def showEvent(self, evt: Any) -> None:
        super().showEvent(evt)
        if self.has_volume:
            self.draw()

    def paintEvent(self, ev: Any) -> None:
        if not self._finalized:
            super().paintEvent(ev)

    def mouseDoubleClickEvent(self, ev: QMouseEvent) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            self.double_clicked.emit(self.name)
            ev.accept()

    def display_xy(self, ev: QMouseEvent | QWheelEvent) -> tuple[int, int]:
        """Qt widget coordinates -> VTK display pixels (origin bottom-left, device pixels)."""
        scale = self._getPixelRatio()
        p = ev.position()
        return round(p.x() * scale), round((self.height() - p.y() - 1) * scale)


class SlicePane(Pane):
    """An axial/coronal/sagittal pane: a ``SliceView`` driven by a ``SliceController``."""

    def __init__(self, orientation: str, hooks: InteractionHooks, parent: QWidget | None = None) -> None:
        super().__init__(orientation, parent)
        from medlens.viewer.render import SliceView

        self.orientation = orientation
        self.view = SliceView(self.render_window, orientation)
        # The window batches changes (volume + window + cursor) into one frame per pane, and
        # hidden panes (single-pane layout) should not draw at all.
        self.view.auto_render = False
        self.controller = SliceController(self.view, hooks)
        self._wheel_accum = 0

    def set_volume(self, volume: Any) -> None:
        self.view.set_volume(volume)
        self.has_volume = True

    # -- Qt input -> controller -----------------------------------------------------------
    def mousePressEvent(self, ev: QMouseEvent) -> None:
        button = _BUTTONS.get(ev.button())
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if button is not None and self.has_volume:
            self.controller.press(button, *self.display_xy(ev))
        ev.accept()

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:
        if self.has_volume:
            self.controller.move(*self.display_xy(ev))
        ev.accept()

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:
        button = _BUTTONS.get(ev.button())
        if button is not None and self.has_volume:
            self.controller.release(button, *self.display_xy(ev))
        ev.accept()

    def wheelEvent(self, ev: QWheelEvent) -> None:
        # Touchpads send many small deltas; whole notches (120) make one slice step each.
        self._wheel_accum += ev.angleDelta().y()
        steps = int(self._wheel_accum / 120)
        self._wheel_accum -= steps * 120
        if steps and self.has_volume:
            ctrl = bool(ev.modifiers() & Qt.KeyboardModifier.ControlModifier)
            self.controller.wheel(steps, ctrl=ctrl)
        ev.accept()

    def keyPressEvent(self, ev: QKeyEvent) -> None:
        name = _KEYS.get(Qt.Key(ev.key()))
        if name is not None and self.has_volume and self.controller.key(name):
            ev.accept()
            return
        QWidget.keyPressEvent(self, ev)  # let the window's shortcuts see it; never VTK

    def keyReleaseEvent(self, ev: QKeyEvent) -> None:
        QWidget.keyReleaseEvent(self, ev)

    def enterEvent(self, ev: QEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)  # keys scroll the pane under the mouse

    def leaveEvent(self, ev: QEvent) -> None:
        self.controller.leave()


class VolumePane(Pane):
    """The 3D pane: a ``VolumeView`` with VTK's own trackball camera interaction."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("3d", parent)
        from medlens.viewer.render import VolumeView

        # VolumeView installs the trackball camera and the interactive/still update rates.
        self.view = VolumeView(self.render_window, interactor=self._Iren)
        self.view.auto_render = False
        # Enable() rather than Initialize(): on OSMesa, Initialize() starts the render window a
        # second time and OSMesaDestroyContext then crashes at Finalize (checked with gdb). Qt
        # delivers the events and sizes itself, so Enable() is all the interactor needs.
        self._Iren.Enable()

    def set_volume(self, volume: Any) -> None:
        self.view.set_volume(volume)
        self.has_volume = True

    def keyPressEvent(self, ev: QKeyEvent) -> None:
        QWidget.keyPressEvent(self, ev)  # VTK's default keys ("e"/"q" = exit, "w" = wireframe) stay off

    def keyReleaseEvent(self, ev: QKeyEvent) -> None:
        QWidget.keyReleaseEvent(self, ev)
