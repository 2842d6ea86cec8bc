"""One editable segmentation: a label map, the image it annotates, its history and brush settings.

Everything a user can do to a segmentation in the window goes through here (and can therefore be
done and tested without a window): brush/eraser strokes, flood fill, island clean-up, label table
changes, undo and redo. Every method returns the :class:`~.box.Box` it changed, so the views
refresh only that block (``SliceView.update_label_map(box)``); ``generation`` counts changes so the
autosaver knows when there is something new to write.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..model import Label, LabelMap, Volume
from . import labels as table
from .box import Box
from .brush import brush_edit
from .fill import flood_fill_edit
from .history import EditHistory, Transaction
from .islands import keep_largest_component_edit, remove_small_components_edit


class SegmentationEditor:
    """Edits ``label_map`` (in place) on the grid of ``image``."""

    def __init__(self, label_map: LabelMap, image: Volume | None = None) -> None:
        if image is not None and image.array.shape != label_map.array.shape:
            raise ValueError(
                f"label map shape {label_map.array.shape} differs from the image's {image.array.shape}"
            )
        self.label_map = label_map
        self.image = image
        self.history = EditHistory(label_map)
        self.radius_mm = 5.0
        self.sphere = False  # 3D brush (sphere) instead of a disc on the slice
        self.threshold: tuple[float, float] | None = None  # paint/fill only within this image range
        self.connectivity = 1
        self.erase_all = False  # the eraser clears only the active label unless set (as 3D Slicer)
        self.active_value = label_map.labels[0].value if label_map.labels else 1
        self.generation = 0  # bumped by every change, undo and redo
        self._stroke: Transaction | None = None
        self._stroke_erase = False
        self._stroke_axis: int | None = None
        self._last: np.ndarray | None = None

    @property
    def spacing(self) -> tuple[float, float, float]:
        return self.label_map.geometry.spacing

    def _image_array(self) -> np.ndarray | None:
        return None if self.image is None or self.threshold is None else self.image.array

    def _changed(self, box: Box | None) -> Box | None:
        self.generation += 1
        return box

    # -- strokes ------------------------------------------------------------------------------
    @property
    def stroking(self) -> bool:
        return self._stroke is not None

    def stroke_begin(
        self, p_ijk: Sequence[float], *, slice_axis: int | None, erase: bool = False
    ) -> Box | None:
        """Press: start a stroke at continuous index ``p_ijk`` (x, y, z) and paint the first dab.

        ``slice_axis`` is the pane's slice axis (the disc stays on that slice); it is ignored when
        :attr:`sphere` is set.
        """
        if self._stroke is not None:
            self.stroke_end()
        self._stroke = self.history.begin("Erase" if erase else "Paint")
        self._stroke_erase = erase
        self._stroke_axis = None if self.sphere else slice_axis
        self._last = np.asarray(p_ijk, dtype=float)
        return self._segment(self._last, None)

    def stroke_to(self, p_ijk: Sequence[float]) -> Box | None:
        """Drag: paint the capsule from the last position to ``p_ijk`` (no gaps however fast)."""
        if self._stroke is None or self._last is None:
            return None
        p = np.asarray(p_ijk, dtype=float)
        box = self._segment(self._last, p)
        self._last = p
        return box

    def stroke_end(self) -> Box | None:
        """Release: the stroke becomes one undo step; returns the stroke's whole box."""
        tx, self._stroke, self._last = self._stroke, None, None
        if tx is None:
            return None
        box = self.history.commit(tx)
        return self._changed(box) if box is not None else None

    def _segment(self, p0: np.ndarray, p1: np.ndarray | None) -> Box | None:
        assert self._stroke is not None
        edit = brush_edit(
            self.label_map.array,
            p0,
            p1,
            self.radius_mm,
            self.spacing,
            0 if self._stroke_erase and self.erase_all else self.active_value,
            slice_axis=self._stroke_axis,
            erase=self._stroke_erase,
            image=self._image_array(),
            value_range=self.threshold,
        )
        return self._stroke.apply(edit)

    def paint_stroke(
        self, points: Sequence[Sequence[float]], *, slice_axis: int | None, erase: bool = False
    ) -> Box | None:
        """A whole stroke through ``points`` as one undo step (scripts, tests, the benchmark)."""
        if not points:
            return None
        self.stroke_begin(points[0], slice_axis=slice_axis, erase=erase)
        for p in points[1:]:
            self.stroke_to(p)
        return self.stroke_end()

    # -- one-shot operations ------------------------------------------------------------------
    def fill(
        self, seed_ijk: Sequence[float], *, slice_axis: int | None, value: int | None = None
    ) -> Box | None:
        """Flood fill from the voxel nearest ``seed_ijk``; 2D on ``slice_axis``'s slice, 3D if None."""
        seed = [int(np.floor(float(v) + 0.5)) for v in seed_ijk]
        edit = flood_fill_edit(
            self.label_map.array,
            seed,
            self.active_value if value is None else value,
            slice_axis=slice_axis,
            connectivity=self.connectivity,
            image=self._image_array(),
            value_range=self.threshold,
        )
        box = self.history.record("Fill", edit)
        return self._changed(box) if box is not None else None

    def keep_largest(self, value: int | None = None) -> Box | None:
        edit = keep_largest_component_edit(
            self.label_map.array, self.active_value if value is None else value, self.connectivity
        )
        box = self.history.record("Keep largest island", edit)
        return self._changed(box) if box is not None else None

    def remove_small(self, min_voxels: int, value: int | None = None) -> Box | None:
        edit = remove_small_components_edit(
            self.label_map.array, self.active_value if value is None else value, min_voxels, self.connectivity
        )
        box = self.history.record(f"Remove islands < {min_voxels} voxels", edit)
        return self._changed(box) if box is not None else None

    # -- label table --------------------------------------------------------------------------
    def _table_change(
        self, description: str, labels: list[Label], clear_value: int | None = None
    ) -> Box | None:
        tx = self.history.begin(description)
        if clear_value is not None:
            tx.apply(table.clear_label_edit(self.label_map.array, clear_value))
        tx.set_labels(labels)
        box = self.history.commit(tx)
        self.generation += 1
        return box

    def add_label(self, name: str, color: tuple[int, int, int] | None = None) -> Label:
        labels, lab = table.add_label(self.label_map.labels, name, color)
        if max(lab.value, 0) > np.iinfo(self.label_map.array.dtype).max:
            raise ValueError(f"label value {lab.value} does not fit a {self.label_map.array.dtype} label map")
        self._table_change(f"Add label {lab.name}", labels)
        self.active_value = lab.value
        return lab

    def rename_label(self, value: int, name: str) -> None:
        self._table_change("Rename label", table.rename_label(self.label_map.labels, value, name))

    def recolor_label(self, value: int, color: tuple[int, int, int]) -> None:
        self._table_change("Recolour label", table.recolor_label(self.label_map.labels, value, color))

    def remove_label(self, value: int) -> Box | None:
        """Drop the label and clear its voxels, as one undo step; returns the cleared box."""
        box = self._table_change("Remove label", table.remove_label(self.label_map.labels, value), value)
        if self.active_value == value:
            self.active_value = self.label_map.labels[0].value if self.label_map.labels else 1
        return box

    # -- history ------------------------------------------------------------------------------
    def undo(self) -> Box | None:
        if self._stroke is not None:
            self.stroke_end()
        if not self.history.can_undo:
            return None
        return self._changed(self.history.undo())

    def redo(self) -> Box | None:
        if not self.history.can_redo:
            return None
        return self._changed(self.history.redo())


__all__ = ["SegmentationEditor"]
