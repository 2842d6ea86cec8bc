"""Mouse handling of the segmentation tools (brush, eraser, fill) on the slice panes.

The pane's :class:`~medlens.app.interaction.SliceController` keeps the gesture rules (which button,
which mode); while a segmentation is being edited it forwards left-button gestures of the
:data:`~medlens.app.tools.EDIT_TOOLS` modes here. This module turns display pixels into continuous
grid indices through the pane's own ``display_to_lps`` (so painting lands exactly under the
cursor at any zoom, pan or orientation) and drives a Qt-free
:class:`~medlens.viewer.edit.SegmentationEditor`: press starts a stroke, each move paints the
capsule from the previous mouse position (no gaps on fast strokes), release makes the stroke one
undo step. Each changed box goes to ``on_change`` so only that block is refreshed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from medlens.app.tools import Tool
from medlens.viewer.edit import Box, SegmentationEditor


class EditMouseHandler:
    """Routes edit gestures of any slice pane to the current editor (``editor()`` may be None)."""

    def __init__(
        self,
        editor: Callable[[], SegmentationEditor | None],
        on_change: Callable[[Box | None, bool], None],
        fill_3d: Callable[[], bool] = lambda: False,
        on_idle: Callable[[str], None] | None = None,
    ) -> None:
        self._editor = editor
        self._on_change = on_change  # (box, final): final is True at the end of an undo step
        self._fill_3d = fill_3d
        self._on_idle = on_idle  # told why nothing happened (no segmentation yet)
        self._view: Any = None

    @staticmethod
    def ijk_at(view: Any, x: float, y: float) -> np.ndarray | None:
        """Continuous grid index (x, y, z) under display pixel (x, y) of ``view``, on its slice."""
        lps = view.display_to_lps(x, y)
        if lps is None or view.volume is None:
            return None
        ijk = np.asarray(view.volume.lps_to_index(lps), dtype=float)
        ijk[view.axes.slice_axis] = view.slice_index  # exactly on the displayed slice
        return ijk

    def press(self, view: Any, tool: Tool, x: int, y: int) -> None:
        editor = self._editor()
        if editor is None:
            if self._on_idle is not None:
                self._on_idle("Accept the AI result or create a segmentation to edit")
            return
        ijk = self.ijk_at(view, x, y)
        if ijk is None:
            return
        axis = view.axes.slice_axis
        if tool is Tool.FILL:
            box = editor.fill(ijk, slice_axis=None if self._fill_3d() else axis)
            self._on_change(box, True)
            return
        self._view = view
        self._on_change(editor.stroke_begin(ijk, slice_axis=axis, erase=tool is Tool.ERASER), False)

    def move(self, view: Any, x: int, y: int) -> None:
        editor = self._editor()
        if editor is None or not editor.stroking or view is not self._view:
            return
        ijk = self.ijk_at(view, x, y)
        if ijk is not None:
            self._on_change(editor.stroke_to(ijk), False)

    def release(self, view: Any, x: int, y: int) -> None:
        editor = self._editor()
        if editor is None or not editor.stroking:
            return
        self.move(view, x, y)
        self._view = None
        self._on_change(editor.stroke_end(), True)


__all__ = ["EditMouseHandler"]
