"""Default mouse/keyboard handling for a slice pane (used when SliceView gets an interactor).

Why not ``vtkInteractorStyleImage``: it keeps its own window/level and slice state and would
fight the view's (``SliceView.window`` / ``slice_index`` would go stale). Instead the interactor
gets a do-nothing ``vtkInteractorStyleUser`` and these observers drive the view's public methods:

* wheel: previous/next slice; Up/Down, Page Up/Page Down keys: 1 / 10 slices;
* left drag: window (horizontal) / level (vertical), scaled to the current width;
* middle drag (or Shift + left): pan; right drag (or Ctrl + left): zoom;
* ``r``: reset camera.

The Qt layer can turn a gesture off (``interaction.left_button = None`` to use the left button
for ruler/ellipse placement) or disable everything with ``interaction.enabled = False``.
"""

from __future__ import annotations

from vtkmodules.vtkInteractionStyle import vtkInteractorStyleUser


class SliceInteraction:
    """Observers on ``interactor`` that scroll, window, pan and zoom a :class:`SliceView`."""

    def __init__(self, view, interactor) -> None:
        self.view = view
        self.interactor = interactor
        self.enabled = True
        self.left_button: str | None = "window"  # "window" | "pan" | "zoom" | None
        self._drag: str | None = None
        self._last = (0, 0)
        interactor.SetInteractorStyle(vtkInteractorStyleUser())
        if interactor.GetRenderWindow() is None:
            interactor.SetRenderWindow(view.render_window)
        add = interactor.AddObserver
        add("MouseWheelForwardEvent", lambda *_: self._wheel(+1))
        add("MouseWheelBackwardEvent", lambda *_: self._wheel(-1))
        add("LeftButtonPressEvent", lambda *_: self._press("left"))
        add("MiddleButtonPressEvent", lambda *_: self._press("middle"))
        add("RightButtonPressEvent", lambda *_: self._press("right"))
        for ev in ("LeftButtonReleaseEvent", "MiddleButtonReleaseEvent", "RightButtonReleaseEvent"):
            add(ev, self._release)
        add("MouseMoveEvent", self._move)
        add("KeyPressEvent", self._key)

    def _mine(self) -> bool:
        x, y = self.interactor.GetEventPosition()
        return self.enabled and self.view.renderer.IsInViewport(x, y)

    def _wheel(self, step: int) -> None:
        if self._mine():
            self.view.scroll(step)

    def _press(self, button: str) -> None:
        if not self._mine():
            return
        iren = self.interactor
        if button == "left":
            mode = self.left_button
            if iren.GetShiftKey():
                mode = "pan"
            elif iren.GetControlKey():
                mode = "zoom"
        else:
            mode = {"middle": "pan", "right": "zoom"}[button]
        self._drag = mode
        self._last = iren.GetEventPosition()

    def _release(self, *_args) -> None:
        self._drag = None

    def _move(self, *_args) -> None:
        if self._drag is None or not self.enabled:
            return
        x, y = self.interactor.GetEventPosition()
        dx, dy = x - self._last[0], y - self._last[1]
        self._last = (x, y)
        view = self.view
        if self._drag == "window":
            c, w = view.window
            h = max(view.renderer.GetSize()[1], 1)
            view.set_window(c + dy * w / h, max(w + dx * w / h * 2.0, 1e-3))
        elif self._drag == "pan":
            view.pan(dx, dy)
        elif self._drag == "zoom":
            view.zoom(1.01**dy)

    def _key(self, *_args) -> None:
        if not self._mine():
            return
        key = self.interactor.GetKeySym()
        steps = {"Up": 1, "Down": -1, "Prior": 10, "Next": -10}
        if key in steps:
            self.view.scroll(steps[key])
        elif key in ("r", "R"):
            self.view.reset_camera()
