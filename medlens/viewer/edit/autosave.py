"""Crash insurance for edits: unsaved segmentations written every 30 s, offered back on start.

Where: ``$MEDLENS_DATA_DIR/autosave`` when set (tests, portable installs), else platformdirs'
``user_data_dir("medlens")/autosave``. One pair of files per source series, named by a hash of its
series UID (or source path): ``<key>.nrrd`` (the labels, compressed) and ``<key>.json`` (series UID,
source path, label table, time). Both are written to a temporary name and moved into place with
``os.replace``, so a crash mid-write leaves the previous autosave intact, never half a file; the
sidecar goes last, so a sidecar always names a complete image. A successful save by the user
deletes the pair (:func:`discard_autosave`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..model import Geometry, Label, LabelMap, Volume
from .labels import labels_from_json, labels_to_json

AUTOSAVE_INTERVAL_S = 30.0
FORMAT = "medlens-autosave/1"


def data_dir() -> Path:
    env = os.environ.get("MEDLENS_DATA_DIR")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("medlens"))


def autosave_dir() -> Path:
    return data_dir() / "autosave"


def source_identity(volume: Volume | None) -> tuple[str, str]:
    """(series UID, source path) that name the study an autosave belongs to."""
    if volume is None:
        return "", ""
    files = [f for f in volume.meta.source_files if f]
    source = str(Path(files[0]).parent if len(files) > 1 else files[0]) if files else ""
    return volume.meta.series_uid, source


def autosave_key(volume: Volume | None) -> str:
    uid, source = source_identity(volume)
    return hashlib.sha1((uid or source or "unnamed").encode()).hexdigest()[:16]


@dataclass
class AutosaveRecord:
    """What the sidecar says about one autosave."""

    key: str
    image_path: Path
    sidecar_path: Path
    series_uid: str = ""
    source_path: str = ""
    name: str = "segmentation"
    labels: list[Label] = field(default_factory=list)
    saved_at: float = 0.0
    shape: tuple[int, int, int] = (0, 0, 0)

    def matches(self, volume: Volume) -> bool:
        uid, source = source_identity(volume)
        same_source = bool(self.series_uid and self.series_uid == uid) or bool(
            not self.series_uid and self.source_path and self.source_path == source
        )
        return same_source and tuple(self.shape) == tuple(volume.array.shape)

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        return f"unsaved segmentation '{self.name}' from {when}"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_autosave(label_map: LabelMap, volume: Volume | None, folder: Path | None = None) -> AutosaveRecord:
    """Write ``label_map`` (and its sidecar) atomically; returns the record."""
    import SimpleITK as sitk

    from ..model import array_to_sitk

    folder = Path(folder) if folder is not None else autosave_dir()
    folder.mkdir(parents=True, exist_ok=True)
    key = autosave_key(volume)
    uid, source = source_identity(volume)
    image_path = folder / f"{key}.nrrd"
    tmp = folder / f".{key}.tmp.nrrd"  # SimpleITK picks the writer by the suffix
    sitk.WriteImage(array_to_sitk(label_map.array, label_map.geometry), str(tmp), useCompression=True)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, image_path)
    record = AutosaveRecord(
        key,
        image_path,
        folder / f"{key}.json",
        uid,
        source,
        label_map.name,
        list(label_map.labels),
        time.time(),
        tuple(int(v) for v in label_map.array.shape),  # type: ignore[arg-type]
    )
    sidecar = {
        "format": FORMAT,
        "series_uid": uid,
        "source_path": source,
        "name": label_map.name,
        "labels": labels_to_json(label_map.labels),
        "saved_at": record.saved_at,
        "shape_zyx": list(record.shape),
        "image": image_path.name,
    }
    _atomic_write_bytes(record.sidecar_path, json.dumps(sidecar, indent=2).encode("utf-8"))
    return record


def _read_record(sidecar: Path) -> AutosaveRecord | None:
    try:
        d = json.loads(sidecar.read_text(encoding="utf-8"))
        if d.get("format") != FORMAT:
            return None
        image = sidecar.with_name(str(d["image"]))
        if not image.exists():
            return None
        labels = labels_from_json(d["labels"])
        return AutosaveRecord(
            sidecar.stem,
            image,
            sidecar,
            str(d.get("series_uid", "")),
            str(d.get("source_path", "")),
            str(d.get("name", "segmentation")),
            labels,
            float(d.get("saved_at", 0.0)),
            tuple(int(v) for v in d.get("shape_zyx", (0, 0, 0))),  # type: ignore[arg-type]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def list_autosaves(folder: Path | None = None) -> list[AutosaveRecord]:
    """Every readable autosave, newest first (unreadable or orphaned sidecars are skipped)."""
    folder = Path(folder) if folder is not None else autosave_dir()
    if not folder.is_dir():
        return []
    records = [r for p in folder.glob("*.json") if (r := _read_record(p)) is not None]
    return sorted(records, key=lambda r: r.saved_at, reverse=True)


def find_autosave(volume: Volume, folder: Path | None = None) -> AutosaveRecord | None:
    """The autosave made on ``volume``'s series, if any."""
    return next((r for r in list_autosaves(folder) if r.matches(volume)), None)


def load_autosave(record: AutosaveRecord, volume: Volume) -> LabelMap:
    """The autosaved labels on ``volume``'s grid (ValueError when the grid does not match)."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(record.image_path))
    geometry = Geometry(image.GetSpacing(), image.GetOrigin(), image.GetDirection())
    array = sitk.GetArrayFromImage(image)
    if array.shape != volume.array.shape or not geometry.allclose(volume.geometry):
        raise ValueError("the autosaved segmentation does not lie on this series' grid")
    dtype = np.uint8 if int(array.max(initial=0)) < 256 else np.uint16
    return LabelMap(array.astype(dtype, copy=False), volume.geometry, list(record.labels), record.name)


def discard_autosave(record: AutosaveRecord | None) -> None:
    if record is None:
        return
    for p in (record.sidecar_path, record.image_path):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


class Autosaver:
    """Decides when to write: every ``interval_s`` while an editor has changes not yet written.

    Qt-free: the window's timer calls :meth:`tick`; tests pass ``now``.
    """

    def __init__(
        self, volume: Volume | None, folder: Path | None = None, interval_s: float = AUTOSAVE_INTERVAL_S
    ) -> None:
        self.volume = volume
        self.folder = folder
        self.interval_s = interval_s
        self.saved_generation = 0
        self.last_write = time.monotonic()
        self.record: AutosaveRecord | None = None

    def tick(
        self, label_map: LabelMap, generation: int, now: float | None = None, force: bool = False
    ) -> AutosaveRecord | None:
        """Write when ``generation`` moved since the last write and the interval has passed."""
        now = time.monotonic() if now is None else now
        if generation == self.saved_generation:
            return None
        if not force and now - self.last_write < self.interval_s:
            return None
        self.record = write_autosave(label_map, self.volume, self.folder)
        self.saved_generation = generation
        self.last_write = now
        return self.record

    def saved_by_user(self, generation: int) -> None:
        """The user saved: nothing is at risk any more, so the autosave goes."""
        self.saved_generation = generation
        discard_autosave(self.record or self._record_for_volume())
        self.record = None

    def _record_for_volume(self) -> AutosaveRecord | None:
        if self.volume is None:
            return None
        folder = Path(self.folder) if self.folder is not None else autosave_dir()
        return _read_record(folder / f"{autosave_key(self.volume)}.json")


__all__ = [
    "AUTOSAVE_INTERVAL_S",
    "AutosaveRecord",
    "Autosaver",
    "autosave_dir",
    "data_dir",
    "discard_autosave",
    "find_autosave",
    "list_autosaves",
    "load_autosave",
    "write_autosave",
]
