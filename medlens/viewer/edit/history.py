"""Undo/redo that stores only what an edit changed, so memory follows the edit, not the volume.

Each entry keeps the bounding box of the change and ``old XOR new`` over that box, deflated. XOR
because one block then serves both directions (``array[box] ^= diff`` undoes and redoes) and is zero
wherever nothing changed, which deflate squeezes to almost nothing: a brush stroke costs a fraction
of its changed voxels' bytes, a full-volume copy per step (the naive way) costs the volume. Undo and
redo replay entries strictly in stack order, which is what makes the XOR exact, bit for bit; any
write to the label map that bypasses the history must be followed by :meth:`EditHistory.clear`.

An edit is a :class:`Transaction`: operations write through :meth:`Transaction.apply`, which saves
the old values of just that operation's box (a brush segment's, not the stroke's); committing folds
the segments into one entry, so a whole press-drag-release stroke is one undo step. Label-table
changes (add, remove, rename, recolour) ride in the same entry.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from ..model import Label, LabelMap
from .box import Box, Edit

BOX_BYTES = 6 * 8  # the six ints of a box, counted in an entry's size


@dataclass
class _Entry:
    description: str
    box: Box | None
    diff: bytes  # deflated (old ^ new) over box, C order; b"" when only the label table changed
    labels_before: tuple[Label, ...] | None
    labels_after: tuple[Label, ...] | None

    @property
    def nbytes(self) -> int:
        return len(self.diff) + (BOX_BYTES if self.box is not None else 0)


@dataclass
class Transaction:
    """An edit in progress; see the module docstring. Obtain from :meth:`EditHistory.begin`."""

    label_map: LabelMap
    description: str
    segments: list[tuple[Box, np.ndarray]] = field(default_factory=list)
    box: Box | None = None
    labels_before: tuple[Label, ...] | None = None

    def apply(self, edit: Edit | None) -> Box | None:
        """Write ``edit`` into the label map, keeping the old values of its box; returns the box."""
        if edit is None:
            return None
        sl = edit.box.slices
        self.segments.append((edit.box, self.label_map.array[sl].copy()))
        self.label_map.array[sl] = edit.block
        self.box = edit.box.union(self.box)
        return edit.box

    def set_labels(self, labels: list[Label]) -> None:
        """Replace the label table (its old state is kept for undo)."""
        if self.labels_before is None:
            self.labels_before = tuple(self.label_map.labels)
        self.label_map.labels = list(labels)


class EditHistory:
    """Undo/redo stacks for one label map; ``max_bytes`` bounds the memory (oldest steps go first)."""

    def __init__(self, label_map: LabelMap, max_steps: int = 200, max_bytes: int = 256 * 2**20) -> None:
        self.label_map = label_map
        self.max_steps = max_steps
        self.max_bytes = max_bytes
        self._undo: list[_Entry] = []
        self._redo: list[_Entry] = []

    # -- recording ----------------------------------------------------------------------------
    def begin(self, description: str) -> Transaction:
        return Transaction(self.label_map, description)

    def commit(self, tx: Transaction) -> Box | None:
        """Fold ``tx`` into one undo step; returns the box it changed (None if nothing changed)."""
        diff = b""
        box = tx.box
        if box is not None:
            current = self.label_map.array[box.slices]
            old = current.copy()
            for seg_box, seg_old in reversed(tx.segments):  # undo the segments in reverse order
                old[seg_box.offset(box)] = seg_old
            x = np.bitwise_xor(old, current)
            if x.any():
                diff = zlib.compress(np.ascontiguousarray(x).tobytes(), 1)
            else:
                box = None
        tx.segments.clear()
        labels_after = tuple(self.label_map.labels) if tx.labels_before is not None else None
        if labels_after is not None and labels_after == tx.labels_before:
            labels_after = None
        if box is None and labels_after is None:
            return None
        self._undo.append(
            _Entry(
                tx.description,
                box,
                diff,
                tx.labels_before if labels_after is not None else None,
                labels_after,
            )
        )
        self._redo.clear()
        self._trim()
        return box

    def record(self, description: str, edit: Edit | None) -> Box | None:
        """Apply one operation as one undo step (fill, islands...)."""
        tx = self.begin(description)
        tx.apply(edit)
        return self.commit(tx)

    # -- replay -------------------------------------------------------------------------------
    def _replay(self, entry: _Entry, labels: tuple[Label, ...] | None) -> Box | None:
        if entry.box is not None and entry.diff:
            block = self.label_map.array[entry.box.slices]
            x = np.frombuffer(zlib.decompress(entry.diff), dtype=block.dtype).reshape(block.shape)
            np.bitwise_xor(block, x, out=block)
        if labels is not None:
            self.label_map.labels = list(labels)
        return entry.box

    def undo(self) -> Box | None:
        """Revert the last step; returns the box to refresh (None if it only changed labels/none)."""
        if not self._undo:
            return None
        entry = self._undo.pop()
        self._redo.append(entry)
        return self._replay(entry, entry.labels_before)

    def redo(self) -> Box | None:
        if not self._redo:
            return None
        entry = self._redo.pop()
        self._undo.append(entry)
        return self._replay(entry, entry.labels_after)

    # -- state --------------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_text(self) -> str:
        return self._undo[-1].description if self._undo else ""

    @property
    def redo_text(self) -> str:
        return self._redo[-1].description if self._redo else ""

    @property
    def nbytes(self) -> int:
        """Bytes held by the history's entries (payload + boxes; what the memory goal is about)."""
        return sum(e.nbytes for e in self._undo) + sum(e.nbytes for e in self._redo)

    def __len__(self) -> int:
        return len(self._undo)

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()

    def _trim(self) -> None:
        while len(self._undo) > self.max_steps or (len(self._undo) > 1 and self.nbytes > self.max_bytes):
            self._undo.pop(0)


__all__ = ["EditHistory", "Transaction"]
