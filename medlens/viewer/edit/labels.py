"""The label table: add, rename, recolour and remove labels (pure functions on lists of Label).

Removing a label also clears its voxels (:func:`clear_label_edit`), otherwise voxels would keep a
value that no longer has a name or colour; :class:`~.editor.SegmentationEditor` does both in one
undoable step.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..model import Label
from .box import Box, Edit

# distinguishable on grey CT (3D Slicer's first generic-anatomy colours, roughly)
PALETTE: tuple[tuple[int, int, int], ...] = (
    (241, 214, 145),
    (128, 174, 128),
    (216, 101, 79),
    (111, 184, 210),
    (221, 130, 101),
    (144, 238, 144),
    (192, 104, 88),
    (220, 245, 20),
    (78, 63, 0),
    (255, 250, 220),
)


def default_color(value: int) -> tuple[int, int, int]:
    return PALETTE[(int(value) - 1) % len(PALETTE)]


def next_value(labels: list[Label], max_value: int = 255) -> int:
    """The smallest unused label value >= 1."""
    used = {lab.value for lab in labels}
    for v in range(1, max_value + 1):
        if v not in used:
            return v
    raise ValueError(f"no free label value left (all of 1..{max_value} in use)")


def add_label(
    labels: list[Label], name: str, color: tuple[int, int, int] | None = None, value: int | None = None
) -> tuple[list[Label], Label]:
    """A new table with a label appended (next free value unless given); returns (table, label)."""
    v = next_value(labels) if value is None else int(value)
    if any(lab.value == v for lab in labels):
        raise ValueError(f"label value {v} is already in use")
    if v < 1:
        raise ValueError("label values start at 1 (0 is background)")
    lab = Label(v, name.strip() or f"label {v}", tuple(int(c) for c in (color or default_color(v))))  # type: ignore[arg-type]
    return [*labels, lab], lab


def _replace(labels: list[Label], value: int, **changes: object) -> list[Label]:
    if not any(lab.value == value for lab in labels):
        raise KeyError(f"no label with value {value}")
    return [replace(lab, **changes) if lab.value == value else lab for lab in labels]  # type: ignore[arg-type]


def rename_label(labels: list[Label], value: int, name: str) -> list[Label]:
    return _replace(labels, value, name=name.strip() or f"label {value}")


def recolor_label(labels: list[Label], value: int, color: tuple[int, int, int]) -> list[Label]:
    return _replace(labels, value, color=tuple(int(c) for c in color))


def remove_label(labels: list[Label], value: int) -> list[Label]:
    if not any(lab.value == value for lab in labels):
        raise KeyError(f"no label with value {value}")
    return [lab for lab in labels if lab.value != value]


def clear_label_edit(array: np.ndarray, value: int) -> Edit | None:
    """Set every voxel of label ``value`` to background (None when it has none)."""
    mask = array == value
    box = Box.of_mask(mask)
    if box is None:
        return None
    block = array[box.slices].copy()
    block[mask[box.slices]] = 0
    return Edit(box, block)


__all__ = [
    "PALETTE",
    "add_label",
    "clear_label_edit",
    "default_color",
    "next_value",
    "recolor_label",
    "remove_label",
    "rename_label",
]


def labels_to_json(labels: list[Label]) -> list[dict[str, object]]:
    """The table as JSON-able dicts (autosave sidecars, NIfTI label sidecars)."""
    return [{"value": lab.value, "name": lab.name, "color": list(lab.color)} for lab in labels]


def labels_from_json(items: list[dict[str, object]]) -> list[Label]:
    out = []
    for x in items:
        r, g, b = (int(c) for c in x["color"])  # type: ignore[attr-defined]
        out.append(Label(int(x["value"]), str(x["name"]), (r, g, b)))  # type: ignore[call-overload]
    return out
