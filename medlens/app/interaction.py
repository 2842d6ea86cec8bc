"""What mouse and keyboard gestures do in a slice pane, without Qt.

``SliceController`` receives events already translated to VTK display coordinates (pixels, origin
bottom-left, y up) and drives one ``SliceView``; whatever must reach the other panes (crosshair,
window/level, measurements, readout) goes through ``InteractionHooks``. Keeping it free of Qt
means the gesture rules can be tested with a fake view, and the Qt widget stays a thin adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from medlens.app.presets import drag_window
from medlens.app.readout import describe_measurement, format_distance
from medlens.app.tools import EDIT_TOOLS, Button, Tool, gesture_for

CLICK_TOLERANCE_PX = 3  # a press and release closer than this is a click, not a drag
ZOOM_PER_WHEEL_STEP = 1.15
ZOOM_PER_PIXEL = 1.01
PAGE_STEP = 10

KEY_SCROLL = {"up": 1, "down": -1, "pageup": PAGE_STEP, "pagedown": -PAGE_STEP}


class InteractionHooks(Protocol):
    """How a pane's gestures reach the rest of the viewer (implemented by the main window)."""

    def cursor_moved(self, lps: np.ndarray) -> None: ...
    def window_changed(self, centre: float, width: float) -> None: ...
    def readout_changed(self, readout: dict[str, Any] | None) -> None: ...
    def slice_changed(self, view: Any) -> None: ...
    def measurement_added(self, kind: str, obj: Any, text: str) -> None: ...


@dataclass
class _Drag:
    gesture: Tool
    button: Button
    start: tuple[int, int]
    last: tuple[int, int]
    start_lps: np.ndarray | None
    moved: bool = False


class SliceController:
    """Gesture rules for one slice pane; see :mod:`medlens.app.tools` for the modes."""

    def __init__(self, view: Any, hooks: InteractionHooks) -> None:
        self.view = view
        self.hooks = hooks
        self.tool = Tool.NAVIGATE
        self._drag: _Drag | None = None
        self._pending_click: np.ndarray | None = None  # first click of a two-click measurement
        self.edit_handler: Any = None  # medlens.app.edit_tools.EditMouseHandler while editing

    def set_tool(self, tool: Tool) -> None:
        self.tool = tool
        self._pending_click = None

    # -- buttons ------------------------------------------------------------------------------
    def press(self, button: Button, x: int, y: int) -> None:
        gesture = gesture_for(button, self.tool)
        self._drag = _Drag(gesture, button, (x, y), (x, y), self._lps(x, y))
        if gesture is Tool.NAVIGATE:
            self._set_cursor(x, y)
        elif gesture in EDIT_TOOLS and self.edit_handler is not None:
            self.edit_handler.press(self.view, gesture, x, y)

    def move(self, x: int, y: int) -> None:
        self.hooks.readout_changed(self._readout(x, y))
        drag = self._drag
        if drag is None:
            return
        dx, dy = x - drag.last[0], y - drag.last[1]
        drag.last = (x, y)
        if abs(x - drag.start[0]) > CLICK_TOLERANCE_PX or abs(y - drag.start[1]) > CLICK_TOLERANCE_PX:
            drag.moved = True
        g = drag.gesture
        if g is Tool.NAVIGATE:
            self._set_cursor(x, y)
        elif g is Tool.WINDOW_LEVEL and (dx or dy):
            centre, width = self.view.window
            self.hooks.window_changed(*drag_window(centre, width, dx, dy))
        elif g is Tool.ZOOM and dy:
            self.view.zoom(ZOOM_PER_PIXEL**dy)
            self.view.render()
        elif g is Tool.PAN and (dx or dy):
            self.view.pan(dx, dy)
            self.view.render()
        elif g in EDIT_TOOLS and self.edit_handler is not None and (dx or dy):
            self.edit_handler.move(self.view, x, y)

    def release(self, button: Button, x: int, y: int) -> None:
        drag, self._drag = self._drag, None
        if drag is None or drag.button is not button:
            return
        if drag.gesture in EDIT_TOOLS and self.edit_handler is not None:
            self.edit_handler.release(self.view, x, y)
        if drag.gesture in (Tool.RULER, Tool.ELLIPSE):
            end = self._lps(x, y)
            if end is None:
                return
            if drag.moved and drag.start_lps is not None:
                self._place(drag.gesture, drag.start_lps, end)
            elif self._pending_click is None:
                self._pending_click = end
            else:
                start, self._pending_click = self._pending_click, None
                self._place(drag.gesture, start, end)

    # -- wheel and keys -----------------------------------------------------------------------
    def wheel(self, steps: int, ctrl: bool = False) -> None:
        """``steps`` > 0 is wheel forward: next slice, or zoom in with Ctrl."""
        if not steps:
            return
        if ctrl:
            self.view.zoom(ZOOM_PER_WHEEL_STEP**steps)
            self.view.render()
        else:
            self._scroll(steps)

    def key(self, name: str) -> bool:
        """Handle a named key ("up", "down", "pageup", "pagedown"); False when not ours."""
        delta = KEY_SCROLL.get(name)
        if delta is None:
            return False
        self._scroll(delta)
        return True

    def leave(self) -> None:
        self.hooks.readout_changed(None)

    # -- helpers ------------------------------------------------------------------------------
    def _scroll(self, delta: int) -> None:
        before = self.view.slice_index
        self.view.scroll(delta)
        if self.view.slice_index != before:
            self.view.render()
            self.hooks.slice_changed(self.view)

    def _lps(self, x: int, y: int) -> np.ndarray | None:
        lps = self.view.display_to_lps(x, y)
        return None if lps is None else np.asarray(lps, dtype=float)

    def _readout(self, x: int, y: int) -> dict[str, Any] | None:
        try:
            return self.view.readout(x, y)
        except (ValueError, IndexError):
            return None

    def _set_cursor(self, x: int, y: int) -> None:
        lps = self._lps(x, y)
        if lps is not None:
            self.hooks.cursor_moved(lps)

    def _place(self, kind: Tool, p: np.ndarray, q: np.ndarray) -> None:
        if kind is Tool.RULER:
            obj = self.view.add_ruler(p, q)
            text = describe_measurement(obj, format_distance(p, q))
            self.view.render()
            self.hooks.measurement_added("ruler", obj, text)
        else:
            centre = (p + q) / 2.0
            radii = self.ellipse_radii(p, q)
            obj = self.view.add_ellipse(centre, radii)
            text = describe_measurement(obj, f"Ellipse: radii {radii[0]:.1f} × {radii[1]:.1f} mm")
            self.view.render()
            self.hooks.measurement_added("ellipse", obj, text)

    def ellipse_radii(self, p: np.ndarray, q: np.ndarray) -> tuple[float, float]:
        """Half the dragged box along screen right and screen up of this pane (mm)."""
        half = (q - p) / 2.0
        axes = getattr(self.view, "axes", None)
        if axes is not None:
            right, up = np.asarray(axes.right, float), np.asarray(axes.up, float)
            return abs(float(half @ right)), abs(float(half @ up))
        normal = {"axial": 2, "coronal": 1, "sagittal": 0}.get(getattr(self.view, "orientation", ""), 2)
        u, v = (a for a in range(3) if a != normal)
        return abs(float(half[u])), abs(float(half[v]))
