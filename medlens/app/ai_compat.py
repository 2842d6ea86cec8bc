"""Qt-free rules behind the AI panel: which plugin may run on which series, and result summaries.

Kept apart from the widgets so they are unit-testable and so the command line could reuse them:

* :func:`plugin_choices` -- every discovered plugin with whether it can run on the loaded series
  and, when not, one line saying why ("accepts MR, this series is CT", the broken reason...);
* :func:`uncertain_slices` -- the axial slices whose uncertainty is high, for the "check these"
  list;
* :func:`slice_scores` -- the per-slice score curve of a 2D classifier on the volume's slices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medlens.inference.discovery import PluginEntry, PluginRegistry
from medlens.viewer.model import Heatmap, Volume

# A slice is flagged when the mean TTA spread over its "uncertain" voxels (spread above
# UNCERTAIN_VOXEL) reaches UNCERTAIN_SLICE, over at least MIN_UNCERTAIN_VOXELS voxels. The spread
# is a standard deviation of probabilities across flips: 0.15 means the flips disagree by ~±0.15.
UNCERTAIN_VOXEL = 0.05
UNCERTAIN_SLICE = 0.15
MIN_UNCERTAIN_VOXELS = 5


@dataclass(frozen=True)
class PluginChoice:
    """One row of the plugin list."""

    id: str
    name: str
    task: str
    device: str
    runnable: bool
    reason: str  # why it cannot run ("" when it can), or a warning to show beside it
    broken: bool = False

    @property
    def text(self) -> str:
        """The list row: name, task and device; the reason on a second line when not runnable."""
        head = f"{self.name} — {self.task}" if self.task else self.name
        if self.device:
            head += f" · {self.device}"
        return head if self.runnable else f"{head}\n    {self.reason}"


def device_of(entry: PluginEntry) -> str:
    """Where the plugin would run now ("CPU (onnxruntime)"...), without loading the model."""
    if entry.manifest is None:
        return ""
    try:
        from medlens.inference.runtimes import get_runtime

        return get_runtime(entry.manifest.runtime).device_description()
    except Exception as exc:  # runtime package missing
        return f"runtime unavailable ({type(exc).__name__})"


def compatibility(entry: PluginEntry, volume: Volume | None) -> tuple[bool, str]:
    """(runnable, reason): the same modality rule as the runner, plus dimensionality."""
    if not entry.ok or entry.manifest is None:
        return False, f"cannot be used: {entry.error or 'broken plugin'}"
    if volume is None:
        return False, "open a series first"
    m = entry.manifest
    accepted = list(m.input.modality)
    modality = (volume.meta.modality or "").upper()
    if modality and modality not in accepted:
        return False, f"accepts {', '.join(accepted)}, this series is {modality}"
    if m.input.dims == 3 and (volume.meta.is_2d or volume.array.shape[0] < 2):
        return False, "needs a 3D series, this is a single 2D image"
    if not modality:
        return True, f"the series does not state its modality; assumed {'/'.join(accepted)}"
    return True, ""


def plugin_choices(registry: PluginRegistry, volume: Volume | None) -> list[PluginChoice]:
    """Every plugin the registry knows: runnable ones first, then incompatible, then broken."""
    rows = []
    for entry in registry.entries:
        ok, reason = compatibility(entry, volume)
        m = entry.manifest
        rows.append(
            PluginChoice(
                id=entry.id,
                name=m.name if m else entry.id,
                task=m.task if m else "",
                device=device_of(entry) if entry.ok else "",
                runnable=ok,
                reason=reason,
                broken=not entry.ok,
            )
        )
    return sorted(rows, key=lambda r: (not r.runnable, r.broken))


def uncertain_slices(
    hm: Heatmap,
    voxel_level: float = UNCERTAIN_VOXEL,
    slice_level: float = UNCERTAIN_SLICE,
    min_voxels: int = MIN_UNCERTAIN_VOXELS,
) -> list[tuple[int, float]]:
    """(slice index along array z, mean uncertainty) of the slices worth a second look.

    The mean is taken over the voxels that are uncertain at all, not over the whole slice, so a
    small lesion with a very unsure border is flagged even though most of its slice is empty.
    """
    out = []
    for k, plane in enumerate(hm.array):
        vals = plane[plane > voxel_level]
        if vals.size >= min_voxels:
            mean = float(vals.mean())
            if mean >= slice_level:
                out.append((k, mean))
    return out


def slice_scores(
    slice_probabilities: np.ndarray | None, class_index: int, n_slices: int
) -> np.ndarray | None:
    """Per-slice scores of class ``class_index`` on the volume's ``n_slices`` slices.

    A 2D classifier scores the slices of the *resampled* volume; its z spacing is kept, so the
    counts match -- when they do not, scores are mapped by relative position.
    """
    if slice_probabilities is None or len(slice_probabilities) == 0:
        return None
    scores = np.asarray(slice_probabilities, dtype=float)
    scores = scores[:, class_index] if scores.ndim == 2 else scores
    if len(scores) == n_slices:
        return scores
    pos = np.linspace(0, len(scores) - 1, n_slices)
    return np.interp(pos, np.arange(len(scores)), scores)
