"""``report_correction``: what the app calls when a user accepts an edited AI result.

It takes the untouched AI output and the user's corrected one, measures how far apart they are
(Dice and HD95 in mm for masks; agree/disagree for classes), and stores them with the image they
were drawn on - cropped to the edited region plus a margin, so a store of hundreds of cases stays
small - under a salted hash of the series UID instead of any identifier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from medlens.corrections.metrics import dice, hausdorff95
from medlens.corrections.store import CorrectionStore
from medlens.inference.manifest import Manifest
from medlens.viewer.model import LabelMap, Volume

CROP_MARGIN_ZYX = (2, 32, 32)  # voxels of context kept around the edited region


def _mask_array(value: LabelMap | np.ndarray, volume: Volume, what: str) -> np.ndarray:
    array = np.asarray(value.array if isinstance(value, LabelMap) else value)
    if array.shape != volume.array.shape:
        raise ValueError(f"{what} has shape {array.shape}, the volume {volume.array.shape}")
    if array.dtype not in (np.uint8, np.uint16):
        array = array.astype(np.uint16 if array.max(initial=0) > 255 else np.uint8)
    return array


def _crop_box(mask: np.ndarray, margin: Sequence[int]) -> tuple[slice, ...]:
    if not mask.any():
        return tuple(slice(0, s) for s in mask.shape)
    idx = np.argwhere(mask)
    lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
    return tuple(
        slice(max(0, int(a) - m), min(s, int(b) + m))
        for a, b, m, s in zip(lo, hi, margin, mask.shape, strict=True)
    )


def _geometry(volume: Volume, box: tuple[slice, ...]) -> dict[str, Any]:
    """Grid of the stored (cropped) arrays: origin moved to the crop's first voxel."""
    z0, y0, x0 = (s.start for s in box)
    origin = volume.geometry.index_to_lps([x0, y0, z0])
    return {
        "spacing": list(volume.geometry.spacing),
        "origin": [float(v) for v in origin],
        "direction": list(volume.geometry.direction),
        "crop_start_zyx": [int(z0), int(y0), int(x0)],
        "source_shape_zyx": [int(s) for s in volume.array.shape],
    }


def _input_refs(store: CorrectionStore, volume: Volume) -> tuple[str, str]:
    meta = volume.meta
    if meta.series_uid:
        series = store.ref(meta.series_uid, "series")
    else:  # NIfTI/NRRD: no UID; the voxels identify the input without naming anything
        from medlens.inference.cache import volume_hash

        series = store.ref(volume_hash(volume), "voxels")
    return series, store.ref(meta.study_uid, "study")


def _probabilities(ai_output: Any) -> dict[str, float]:
    probs = getattr(ai_output, "probabilities", ai_output)
    if not isinstance(probs, Mapping) or not probs:
        raise ValueError("a classification correction needs the AI's class probabilities")
    return {str(k): float(v) for k, v in probs.items()}


def report_correction(
    store: CorrectionStore,
    *,
    plugin_manifest: Manifest,
    volume: Volume,
    ai_output: Any,
    corrected: Any,
    editing_seconds: float,
    agree: bool | None = None,
    corrected_class: str | None = None,
    comment: str = "",
    slices: Sequence[int] | None = None,
) -> str:
    """Store one correction and return its record id.

    Segmentation: ``ai_output`` and ``corrected`` are :class:`LabelMap` (or label arrays) on the
    volume's grid. Classification: ``ai_output`` is the class probabilities (a mapping, or an
    ``InferenceResult``), ``agree`` whether the user agrees with the top class, ``corrected_class``
    the right class when not; ``slices`` limits the stored image to those slices (default: all).
    """
    m = plugin_manifest
    series_ref, study_ref = _input_refs(store, volume)
    fields: dict[str, Any] = {
        "plugin_id": m.id,
        "plugin_version": m.version,
        "weights_sha256": m.weights.sha256,
        "task": m.task,
        "input_ref": series_ref,
        "study_ref": study_ref,
        "editing_seconds": float(editing_seconds),
        "comment": str(comment),
    }
    arrays: dict[str, np.ndarray] = {}
    if m.task == "segmentation":
        ai = _mask_array(ai_output, volume, "the AI output")
        corr = _mask_array(corrected, volume, "the corrected output")
        box = _crop_box((ai > 0) | (corr > 0), CROP_MARGIN_ZYX)
        zyx = tuple(reversed(volume.geometry.spacing))
        hd = hausdorff95(ai > 0, corr > 0, zyx)
        fields.update(
            dice=dice(ai > 0, corr > 0),
            hd95_mm=hd,
            geometry=_geometry(volume, box),
            labels=[
                {"value": lab.value, "name": lab.name, "color": list(lab.color)} for lab in m.output.labels
            ],
            agree=agree,
        )
        arrays = {"image": np.array(volume.array[box]), "ai": ai[box].copy(), "corrected": corr[box].copy()}
    elif m.task == "classification":
        probs = _probabilities(ai_output)
        ai_class = max(probs, key=lambda k: probs[k])
        if agree is None:
            agree = corrected_class is None or corrected_class == ai_class
        if corrected_class is not None and corrected_class not in m.output.class_names:
            raise ValueError(f"{corrected_class!r} is not a class of plugin {m.id}")
        zs = sorted(set(slices)) if slices is not None else list(range(volume.array.shape[0]))
        box = (slice(zs[0], zs[-1] + 1), slice(None), slice(None))
        fields.update(
            agree=bool(agree),
            ai_class=ai_class,
            corrected_class=ai_class if agree and corrected_class is None else corrected_class,
            probabilities=probs,
            geometry=_geometry(volume, (box[0], slice(0, 0), slice(0, 0))),
        )
        arrays = {"image": np.array(volume.array[box])}
    else:
        raise ValueError(f"corrections are recorded for segmentation and classification, not {m.task}")
    return store.add(fields, arrays)
