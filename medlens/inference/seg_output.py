"""``medlens infer ... --out seg.dcm``: a segmentation as DICOM SEG (a classification as DICOM SR)
on its source series.

A DICOM SEG (or SR) is only meaningful next to the images it segments: it references their SOP instances
and frame of reference. So the input must be a DICOM series read with its per-slice headers (the
viewer's reader), and anything else is refused up front with one line, before the model runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medlens.inference.errors import InferenceError
from medlens.viewer.model import LabelMap, Volume

DICOM_SUFFIXES = (".dcm",)


def wants_dicom_output(out_path: str | Path) -> bool:
    return Path(out_path).suffix.lower() in DICOM_SUFFIXES


def read_dicom_series(path: str | Path) -> Volume:
    """The one DICOM series at ``path``, with the headers a SEG must reference (InferenceError if not)."""
    from medlens.viewer.io import LoadError, load

    path = Path(path)
    if not path.exists():
        raise InferenceError(f"{path} does not exist")
    try:
        volumes, _scan = load(path)
    except LoadError as exc:
        raise InferenceError(f"--out *.dcm (DICOM SEG / SR) needs a DICOM series as input: {exc}") from exc
    dicom = [v for v in volumes if v.meta.sop_instance_uids and len(v.meta.source_files) == v.array.shape[0]]
    if not dicom:
        raise InferenceError(
            f"--out *.dcm writes a DICOM SEG / SR, which needs a DICOM series as input; {path} is not one"
        )
    if len(dicom) > 1:
        raise InferenceError(
            f"{path} holds {len(dicom)} DICOM series; pass the folder of one series for a DICOM SEG / SR"
        )
    return dicom[0]


def write_seg(label_map: LabelMap, volume: Volume, out_path: str | Path, algorithm_name: str) -> Path:
    """Write the AI label map as a DICOM SEG (AUTOMATIC, named after the plugin) on ``volume``."""
    from medlens.viewer.io.dicom_seg import write_dicom_seg

    try:
        return write_dicom_seg(label_map, volume, out_path, algorithm_name=algorithm_name, manual=False)
    except (ValueError, OSError) as exc:
        raise InferenceError(f"cannot write the DICOM SEG {out_path}: {exc}") from exc


def write_sr(result: Any, manifest: Any, volume: Volume, out_path: str | Path) -> Path:
    """Write an AI classification as a DICOM SR on ``volume`` (the predicted class's slice scores)."""
    from medlens.viewer.io import LoadError
    from medlens.viewer.io.dicom_sr import write_classification_sr

    try:
        return write_classification_sr(
            volume,
            out_path,
            plugin=manifest.id,
            plugin_version=manifest.version,
            probabilities=dict(result.probabilities),
            slice_probabilities=result.slice_probabilities,
            padded_end_slices=result.padded_end_slices,
        )
    except (ValueError, OSError, LoadError) as exc:
        raise InferenceError(f"cannot write the DICOM SR {out_path}: {exc}") from exc


__all__ = ["read_dicom_series", "wants_dicom_output", "write_seg", "write_sr"]
