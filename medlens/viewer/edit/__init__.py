"""Editing segmentations without Qt: brush, eraser, threshold paint, fill, islands, labels, undo.

Like napari, the model is separate from the GUI: every operation here is a pure function that
*proposes* new values for a bounding box (:class:`~.box.Edit`), :class:`~.history.EditHistory`
applies it while keeping just enough to undo it, and :class:`~.editor.SegmentationEditor` bundles
both with the brush settings for the app. Every edit returns the :class:`~.box.Box` it touched so
views refresh only that block. Tool modes are named once, in :mod:`medlens.app.tools`.

Modules: ``box`` (Box, Edit), ``brush`` (disc/sphere strokes, threshold paint), ``fill``,
``islands``, ``labels`` (label table), ``history``, ``editor``, ``autosave``, ``seg_files``
(NIfTI/NRRD/DICOM SEG save and load), ``decisions`` (classification verdicts as JSON).
"""

from __future__ import annotations

from .box import Box, Edit, apply_edit
from .brush import brush_edit, stroke_mask, threshold_paint_edit
from .editor import SegmentationEditor
from .fill import flood_fill_edit
from .history import EditHistory, Transaction
from .islands import keep_largest_component_edit, remove_small_components_edit

__all__ = [
    "Box",
    "Edit",
    "EditHistory",
    "SegmentationEditor",
    "Transaction",
    "apply_edit",
    "brush_edit",
    "flood_fill_edit",
    "keep_largest_component_edit",
    "remove_small_components_edit",
    "stroke_mask",
    "threshold_paint_edit",
]
