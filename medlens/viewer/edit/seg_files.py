"""Saving and loading segmentations: NIfTI/NRRD/MHA (with a label-table sidecar) and DICOM SEG.

A label map only makes sense on the grid it was drawn on, so loading an image file checks shape
and geometry against the volume shown and refuses a mismatch with one readable line (resampling a
mask silently would move its borders). NIfTI has no place for label names and colours, so they go
in ``<file>.labels.json`` next to it and are read back when present. DICOM SEG goes through
:mod:`medlens.viewer.io.dicom_seg` and needs the volume to come from a DICOM series.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io import LoadError, read_image_file, write_image_file
from ..io.dicom_seg import read_dicom_seg, write_dicom_seg
from ..model import Label, LabelMap, Volume
from .labels import default_color, labels_from_json, labels_to_json

DICOM_SUFFIXES = (".dcm", ".dicom")


def is_dicom_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in DICOM_SUFFIXES


def labels_sidecar(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(p.name + ".labels.json")


def save_segmentation(
    label_map: LabelMap,
    volume: Volume | None,
    path: str | Path,
    *,
    manual: bool = True,
    algorithm_name: str | None = None,
) -> Path:
    """Write ``label_map``; ``.dcm`` makes a DICOM SEG referencing ``volume``'s series.

    ``manual`` marks the SEG's segments MANUAL (an edited result) instead of AUTOMATIC.
    """
    out = Path(path)
    if is_dicom_path(out):
        if volume is None or not volume.meta.sop_instance_uids:
            raise LoadError("DICOM SEG needs the segmentation's series to be a DICOM series")
        return write_dicom_seg(label_map, volume, out, algorithm_name=algorithm_name, manual=manual)
    write_image_file(label_map, out)
    table = labels_to_json(label_map.labels)
    labels_sidecar(out).write_text(json.dumps({"name": label_map.name, "labels": table}, indent=2), "utf-8")
    return out


def _read_labels(path: Path, values: list[int]) -> tuple[str, list[Label]]:
    side = labels_sidecar(path)
    name = path.name.split(".")[0]
    if side.exists():
        try:
            d = json.loads(side.read_text("utf-8"))
            labels = labels_from_json(d["labels"])
            return str(d.get("name", name)), labels
        except (ValueError, KeyError, TypeError):
            pass
    return name, [Label(v, f"label {v}", default_color(v)) for v in values]


def load_segmentation(path: str | Path, volume: Volume) -> LabelMap:
    """A segmentation file as a label map on ``volume``'s grid (LoadError when it does not fit)."""
    p = Path(path)
    if is_dicom_path(p):
        return read_dicom_seg(p, volume)
    image = read_image_file(p)
    if image.array.shape != volume.array.shape:
        raise LoadError(
            f"{p.name}: the segmentation is {' × '.join(map(str, image.shape_xyz))} voxels, "
            f"the series {' × '.join(map(str, volume.shape_xyz))}"
        )
    if not image.geometry.allclose(volume.geometry, atol=1e-2):
        raise LoadError(
            f"{p.name}: the segmentation's grid (origin, spacing or direction) is not the series'"
        )
    arr = np.asarray(image.array)
    if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
        raise LoadError(f"{p.name}: holds non-integer values; not a label map")
    if arr.size and (arr.min() < 0 or arr.max() > 65535):
        raise LoadError(f"{p.name}: label values must lie in 0..65535")
    dtype = np.uint8 if arr.max(initial=0) < 256 else np.uint16
    labels_arr = np.ascontiguousarray(arr.astype(dtype))
    values = [int(v) for v in np.unique(labels_arr) if v != 0]
    name, labels = _read_labels(p, values)
    known = {lab.value for lab in labels}
    labels += [Label(v, f"label {v}", default_color(v)) for v in values if v not in known]
    return LabelMap(labels_arr, volume.geometry, sorted(labels, key=lambda lab: lab.value), name)


__all__ = ["is_dicom_path", "load_segmentation", "save_segmentation"]
