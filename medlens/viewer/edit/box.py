"""The bounding box every edit returns, so views and the undo history touch only that block.

A :class:`Box` is half-open ``(start, stop)`` ranges in array order ``(z, y, x)``; being a plain
tuple of pairs it is also what ``SliceView.update_label_map(bounds_zyx=...)`` takes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Box(NamedTuple):
    """Half-open index ranges ``(z0, z1), (y0, y1), (x0, x1)`` of a (z, y, x) array."""

    z: tuple[int, int]
    y: tuple[int, int]
    x: tuple[int, int]

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """For indexing: ``array[box.slices]`` is the block (a view)."""
        return (slice(*self.z), slice(*self.y), slice(*self.x))

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.z[1] - self.z[0], self.y[1] - self.y[0], self.x[1] - self.x[0])

    @property
    def size(self) -> int:
        s = self.shape
        return max(s[0], 0) * max(s[1], 0) * max(s[2], 0)

    def union(self, other: Box | None) -> Box:
        """The smallest box holding both (``None`` is the empty box)."""
        if other is None:
            return self
        return Box(
            (min(self.z[0], other.z[0]), max(self.z[1], other.z[1])),
            (min(self.y[0], other.y[0]), max(self.y[1], other.y[1])),
            (min(self.x[0], other.x[0]), max(self.x[1], other.x[1])),
        )

    def offset(self, outer: Box) -> tuple[slice, slice, slice]:
        """Slices selecting this box inside a block cut out with ``outer`` (which must contain it)."""
        return (
            slice(self.z[0] - outer.z[0], self.z[1] - outer.z[0]),
            slice(self.y[0] - outer.y[0], self.y[1] - outer.y[0]),
            slice(self.x[0] - outer.x[0], self.x[1] - outer.x[0]),
        )

    @classmethod
    def from_slices(cls, sl: tuple[slice, ...]) -> Box:
        return cls(*((int(s.start), int(s.stop)) for s in sl))  # type: ignore[arg-type]

    @classmethod
    def of_mask(cls, mask: np.ndarray, origin: tuple[int, int, int] = (0, 0, 0)) -> Box | None:
        """Bounding box of the True voxels of a 3D ``mask`` whose [0, 0, 0] sits at ``origin``."""
        if not mask.any():
            return None
        out = []
        for axis in range(3):
            other = tuple(a for a in range(3) if a != axis)
            idx = np.flatnonzero(mask.any(axis=other))
            out.append((int(idx[0]) + origin[axis], int(idx[-1]) + 1 + origin[axis]))
        return cls(*out)  # type: ignore[arg-type]

    @classmethod
    def full(cls, shape: tuple[int, ...]) -> Box:
        return cls((0, int(shape[0])), (0, int(shape[1])), (0, int(shape[2])))


class Edit(NamedTuple):
    """What an editing operation proposes: new values for the voxels of ``box`` (not yet applied).

    Operations are pure (they compute, they do not write) so they can be tested on plain arrays and
    so the :class:`~.history.EditHistory` sees every write.
    """

    box: Box
    block: np.ndarray  # new values, shape == box.shape, the label map's dtype


def apply_edit(array: np.ndarray, edit: Edit | None) -> Box | None:
    """Write ``edit`` into ``array`` without history (tests, scripts); returns the box touched."""
    if edit is None:
        return None
    array[edit.box.slices] = edit.block
    return edit.box


__all__ = ["Box", "Edit", "apply_edit"]
