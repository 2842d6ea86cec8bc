"""Original vs derived (denoised) series side by side: a second axial pane linked to the first.

How it fits the panes design
----------------------------
The window's grid keeps its four panes; comparison adds a fifth :class:`SlicePane` ("axial" view
of the derived volume) in the coronal pane's grid cell and hides the coronal, sagittal and 3D panes,
so the layout becomes *axial original | axial derived*. The pane is registered in
``window.panes["compare"]`` while open, which is what makes ``window.snapshot()``, ``draw_all()``
and ``shutdown()`` (finalising its OpenGL context) cover it with no special case. Choosing any
layout from the Layout menu hides it again (the window's layout code shows only its own four
panes); :meth:`ComparisonView.close` removes it and restores the layout.

Linking: the derived pane follows the original axial pane's slice, cursor, window/level and camera
(zoom/pan) through the view's ``listeners``; scrolling or clicking in the derived pane moves the
window's linked cursor, so every pane follows it back. A re-entrancy guard stops the ping-pong.

Difference: the toggle shows ``derived - original`` (float32, computed once, on demand) with a
symmetric window around 0 instead of the derived image. The original array is never written.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medlens.app.panes import SlicePane
from medlens.viewer.model import Volume

NAME = "compare"


class _CompareHooks:
    """Gestures in the derived pane drive the window like any slice pane's."""

    def __init__(self, cmp: ComparisonView) -> None:
        self.cmp = cmp

    def cursor_moved(self, lps: np.ndarray) -> None:
        self.cmp.window.set_cursor_lps(lps)

    def window_changed(self, centre: float, width: float) -> None:
        if self.cmp.difference:
            self.cmp.pane.view.set_window(centre, width)
            self.cmp.pane.draw()
        else:
            self.cmp.window.set_window(centre, width)

    def readout_changed(self, readout: dict[str, Any] | None) -> None:
        from medlens.app.readout import format_readout

        self.cmp.window.readout_label.setText(format_readout(readout))

    def slice_changed(self, view: Any) -> None:
        win = self.cmp.window
        if win.cursor_lps is not None:
            win.set_cursor_lps(view.project_to_plane(win.cursor_lps))

    def measurement_added(self, kind: str, obj: Any, text: str) -> None:
        self.cmp.window.show_message(text)


class ComparisonView:
    """The derived pane and its links; create with :meth:`open`, end with :meth:`close`."""

    def __init__(self, window: Any, original: Volume, derived: Volume) -> None:
        self.window = window
        self.original = original
        self.derived = derived
        self.difference = False
        self._diff_volume: Volume | None = None
        self._syncing = False
        central = window.centralWidget()
        self.pane = SlicePane("axial", _CompareHooks(self), central)
        self.pane.setToolTip(f"Derived: {derived.meta.series_description or 'derived series'}")
        self.pane.set_volume(derived)
        self.pane.view.set_corner_text_visible(window.act_corner.isChecked())
        self.main_view = window.panes["axial"].view
        self.main_view.listeners.append(self._follow)

    @classmethod
    def open(cls, window: Any, original: Volume, derived: Volume) -> ComparisonView:
        cmp = cls(window, original, derived)
        grid = window.centralWidget().layout()
        grid.addWidget(cmp.pane, 0, 1)
        window.panes[NAME] = cmp.pane
        for name, pane in window.panes.items():
            pane.setVisible(name in ("axial", NAME))
        cmp.pane.show()
        cmp.sync()
        return cmp

    @property
    def view(self) -> Any:
        return self.pane.view

    # -- linking ----------------------------------------------------------------------------
    def sync(self) -> None:
        """Copy slice, cursor, camera and (unless showing the difference) window from the original."""
        if self._syncing or self.pane._finalized:
            return
        self._syncing = True
        try:
            main, view = self.main_view, self.pane.view
            cursor = main.cursor_lps
            if cursor is not None and main.slice_of_lps(cursor) == main.slice_index:
                view.set_cursor_lps(cursor)  # same slice and crosshair
            else:
                view.set_slice(main.slice_index)  # scrolled without moving the cursor
            if not self.difference:
                view.set_window(*main.window)
            src, dst = main.renderer.GetActiveCamera(), view.renderer.GetActiveCamera()
            dst.SetFocalPoint(src.GetFocalPoint())
            dst.SetPosition(src.GetPosition())
            dst.SetViewUp(src.GetViewUp())
            dst.SetParallelScale(src.GetParallelScale())
            dst.SetClippingRange(src.GetClippingRange())
            self.pane.draw()
        finally:
            self._syncing = False

    def _follow(self, _view: Any, what: str) -> None:
        if what in ("slice", "cursor", "window", "camera", "volume"):
            self.sync()

    # -- difference ---------------------------------------------------------------------------
    def set_difference(self, on: bool) -> None:
        """Show ``derived - original`` (symmetric window about 0) or the derived image."""
        self.difference = bool(on)
        view = self.pane.view
        if on:
            diff = self.difference_volume()
            spread = float(np.percentile(np.abs(diff.array[:: max(diff.array.shape[0] // 16, 1)]), 99.5))
            view.set_volume(diff)
            view.set_window(0.0, max(2.0 * spread, 1e-3))
        else:
            view.set_volume(self.derived)
        self.sync()

    def difference_volume(self) -> Volume:
        if self._diff_volume is None:
            diff = self.derived.array.astype(np.float32) - self.original.array.astype(np.float32)
            desc = f"{self.derived.meta.series_description} − original".strip()
            self._diff_volume = self.original.derived(diff, series_description=desc, units="")
        return self._diff_volume

    # -- teardown -----------------------------------------------------------------------------
    def close(self) -> None:
        """Remove the derived pane and give the window its layout back."""
        if self._follow in self.main_view.listeners:
            self.main_view.listeners.remove(self._follow)
        if self.window.panes.get(NAME) is self.pane:
            del self.window.panes[NAME]
        self.pane.finalize()
        self.pane.setParent(None)
        self.pane.deleteLater()
        self.window.set_layout(self.window.layout_state.single)
        self.window.draw_all()
