"""Which panes are visible: the 2x2 grid or one maximised pane (Qt-free)."""

from __future__ import annotations

from dataclasses import dataclass

PANES = ("axial", "coronal", "sagittal", "3d")
SLICE_PANES = ("axial", "coronal", "sagittal")
GRID_POSITION = {"axial": (0, 0), "coronal": (0, 1), "sagittal": (1, 0), "3d": (1, 1)}
TITLES = {"axial": "Axial", "coronal": "Coronal", "sagittal": "Sagittal", "3d": "3D"}


@dataclass
class LayoutState:
    """``single`` is None in the quad layout, else the name of the one pane shown."""

    single: str | None = None

    @property
    def is_quad(self) -> bool:
        return self.single is None

    def visible(self) -> tuple[str, ...]:
        return PANES if self.single is None else (self.single,)

    def set_quad(self) -> None:
        self.single = None

    def set_single(self, pane: str) -> None:
        if pane not in PANES:
            raise ValueError(f"unknown pane {pane!r}")
        self.single = pane

    def toggle_maximise(self, pane: str) -> None:
        """Double-click: maximise a pane of the grid, or bring the grid back."""
        if self.single is None:
            self.set_single(pane)
        else:
            self.set_quad()
