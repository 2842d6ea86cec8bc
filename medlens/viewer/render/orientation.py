"""Which voxel-grid plane each pane shows, how it is laid on screen, and the letters at its edges.

No VTK here: the maths is shared with :mod:`medlens.viewer.measure` and tested on its own.

Sampling decision (oblique data)
--------------------------------
Panes show the **voxel-grid plane closest to each anatomical plane, without resampling** (the
ITK-SNAP approach). Resampling an oblique acquisition onto patient axes would blur every slice,
invent voxels at the corners and make "the value under the cursor" an interpolated value rather
than the one stored in the file. Instead each pane shows real voxels and the orientation letters
tell the truth about where the on-screen axes point: a volume rotated 30 degrees about S shows
"AL"/"PR" rather than "A"/"P" at the top/bottom of its axial pane.

How a grid axis is matched to a patient axis: the permutation of (i, j, k) onto (L, P, S) that
maximises the summed absolute direction cosines (so every grid axis gets exactly one patient axis,
even for 45-degree cases where a greedy choice could pick the same axis twice). The sign of each
on-screen axis is then chosen so it points as closely as possible to where radiological convention
wants it:

* axial    -- screen right = patient Left, screen up = Anterior (looking from the feet);
* coronal  -- screen right = patient Left, screen up = Superior (looking at the patient's front);
* sagittal -- screen right = Posterior (anterior on the left), screen up = Superior.

Projection images (``meta.is_2d``) are shown as stored -- column index to the right, row index
downwards -- in the axial pane, because that is how CR/DX/US images are read; their letters still
come from the direction cosines.

Orientation letters
-------------------
:func:`letters_for` names a direction by its components: +x = L, -x = R, +y = P, -y = A,
+z = S, -z = I. Components with absolute value below ``LETTER_THRESHOLD`` (0.25, i.e. more than
about 75 degrees away from that patient axis) are dropped; the rest are ordered by magnitude, so a
direction 30 degrees from Left towards Posterior reads "LP" and a pure axis reads a single letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np

ORIENTATIONS = ("axial", "coronal", "sagittal")

#: Direction components smaller than this (in absolute value) are left out of edge letters.
LETTER_THRESHOLD = 0.25

_POS_LETTERS = ("L", "P", "S")
_NEG_LETTERS = ("R", "A", "I")

# orientation -> (normal patient axis, (right patient axis, sign), (up patient axis, sign)),
# patient axes numbered 0 = x (L), 1 = y (P), 2 = z (S) in LPS.
_CONVENTION = {
    "axial": (2, (0, +1), (1, -1)),
    "coronal": (1, (0, +1), (2, +1)),
    "sagittal": (0, (1, +1), (2, +1)),
}


def letters_for(vector: np.ndarray | tuple[float, float, float], threshold: float = LETTER_THRESHOLD) -> str:
    """Orientation letters for an LPS direction, dominant component first (e.g. "LP")."""
    v = np.asarray(vector, dtype=float)
    norm = np.linalg.norm(v)
    if norm == 0:
        return ""
    v = v / norm
    order = np.argsort(-np.abs(v), kind="stable")
    return "".join((_POS_LETTERS if v[a] > 0 else _NEG_LETTERS)[a] for a in order if abs(v[a]) >= threshold)


def grid_to_patient_axes(direction: np.ndarray) -> tuple[int, int, int]:
    """For each patient axis (x, y, z) the grid axis (0 = i, 1 = j, 2 = k) that runs closest to it."""
    d = np.abs(np.asarray(direction, dtype=float).reshape(3, 3))
    # d[patient, grid]; try the six assignments, keep the best (ties: first = identity order).
    best = max(permutations(range(3)), key=lambda p: sum(d[a, p[a]] for a in range(3)))
    return tuple(int(g) for g in best)  # type: ignore[return-value]


@dataclass(frozen=True)
class PlaneAxes:
    """How one pane shows a voxel grid.

    ``slice_axis`` is the grid axis (0 = i, 1 = j, 2 = k) scrolled through; ``u_axis``/``v_axis``
    are the grid axes drawn along screen right/up, with ``u_sign``/``v_sign`` = +1 when increasing
    index moves right/up and -1 when it moves left/down. ``right``/``up``/``normal`` are unit LPS
    vectors of screen right, screen up and out of the screen (right x up).
    """

    orientation: str
    slice_axis: int
    u_axis: int
    u_sign: int
    v_axis: int
    v_sign: int
    right: tuple[float, float, float]
    up: tuple[float, float, float]
    normal: tuple[float, float, float]

    @property
    def array_axis(self) -> int:
        """Axis of the (z, y, x) numpy array that the slice index runs along."""
        return 2 - self.slice_axis

    def labels(self, threshold: float = LETTER_THRESHOLD) -> dict[str, str]:
        """Letters drawn at the four screen edges, e.g. {"left": "R", "right": "L", "top": "A", ...}."""
        r, u = np.asarray(self.right), np.asarray(self.up)
        return {
            "left": letters_for(-r, threshold),
            "right": letters_for(r, threshold),
            "top": letters_for(u, threshold),
            "bottom": letters_for(-u, threshold),
        }


def plane_axes(direction: np.ndarray | tuple[float, ...], orientation: str, is_2d: bool = False) -> PlaneAxes:
    """Choose the grid plane and on-screen axis directions for ``orientation`` (see module doc)."""
    if orientation not in _CONVENTION:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}, got {orientation!r}")
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    if is_2d:
        slice_axis, (u_axis, u_sign), (v_axis, v_sign) = 2, (0, +1), (1, -1)
    else:
        normal_axis, (right_axis, right_sign), (up_axis, up_sign) = _CONVENTION[orientation]
        grid_of = grid_to_patient_axes(d)
        slice_axis, u_axis, v_axis = grid_of[normal_axis], grid_of[right_axis], grid_of[up_axis]
        u_sign = right_sign if d[right_axis, u_axis] >= 0 else -right_sign
        v_sign = up_sign if d[up_axis, v_axis] >= 0 else -up_sign
    right = d[:, u_axis] * u_sign
    right = right / np.linalg.norm(right)
    up = d[:, v_axis] * v_sign
    up = up - right * float(up @ right)  # orthogonalise: sheared grids still get a proper camera
    up = up / np.linalg.norm(up)
    normal = np.cross(right, up)
    return PlaneAxes(
        orientation=orientation,
        slice_axis=int(slice_axis),
        u_axis=int(u_axis),
        u_sign=int(u_sign),
        v_axis=int(v_axis),
        v_sign=int(v_sign),
        right=tuple(float(c) for c in right),
        up=tuple(float(c) for c in up),
        normal=tuple(float(c) for c in normal),
    )


def orientation_labels(
    direction: np.ndarray | tuple[float, ...], orientation: str, is_2d: bool = False
) -> dict[str, str]:
    """Shortcut: the edge letters of ``orientation`` for a grid with this direction matrix."""
    return plane_axes(direction, orientation, is_2d).labels()
