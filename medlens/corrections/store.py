"""The corrections store: SQLite (WAL) for records, one folder of ``.npy`` arrays per record.

Crash safety, in the order a record is written:

1. every array goes to ``records/<id>/<name>.npy`` atomically (temp file, fsync, ``os.replace``,
   folder fsync), and its sha256 is kept;
2. only then is the row inserted, in its own transaction, with those sha256s.

A kill -9 at any moment therefore leaves either a complete record or none (at worst an orphan folder
with no row, which readers never see and :meth:`CorrectionStore.remove_orphans` deletes). SQLite in
WAL mode with ``synchronous=FULL`` makes a committed row survive the process being killed.

Nothing identifying is stored: inputs are referred to by salted hashes (:mod:`.ids`), never by UID,
name, ID, file path or date. The one date kept is when the correction was made (not patient data),
and it is not exported.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from medlens.corrections.atomic import atomic_save_array, fsync_dir, sha256_path
from medlens.corrections.ids import hashed_ref, load_or_create_salt

ENV_VAR = "MEDLENS_DATA_DIR"
DB_NAME = "corrections.sqlite"
SCHEMA_VERSION = 1


class StoreError(Exception):
    """A store that cannot be opened or a record that cannot be read; one readable line."""


def default_store_dir() -> Path:
    """``$MEDLENS_DATA_DIR/corrections`` when set, else the platform's user data folder."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser() / "corrections"
    import platformdirs

    return Path(platformdirs.user_data_dir("medlens")) / "corrections"


@dataclass
class CorrectionRecord:
    """One reported correction (see :func:`medlens.corrections.report.report_correction`)."""

    id: str
    created_utc: str
    plugin_id: str
    plugin_version: str
    weights_sha256: str
    task: str
    input_ref: str  # salted hash of the series UID (or of the voxels when there is no UID)
    study_ref: str = ""
    geometry: dict[str, Any] = field(default_factory=dict)  # spacing/origin/direction of the arrays
    labels: list[dict[str, Any]] = field(default_factory=list)
    dice: float | None = None
    hd95_mm: float | None = None
    editing_seconds: float = 0.0
    agree: bool | None = None
    ai_class: str | None = None
    corrected_class: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    comment: str = ""
    files: dict[str, str] = field(default_factory=dict)  # array name -> sha256 of its .npy
    folder: Path = Path(".")

    def summary(self) -> dict[str, Any]:
        """The record as JSON-ready values (no folder, no comment: comments are free text)."""
        return {
            "id": self.id,
            "created_utc": self.created_utc,
            "plugin_id": self.plugin_id,
            "plugin_version": self.plugin_version,
            "weights_sha256": self.weights_sha256,
            "task": self.task,
            "input_ref": self.input_ref,
            "dice": self.dice,
            "hd95_mm": self.hd95_mm,
            "editing_seconds": self.editing_seconds,
            "agree": self.agree,
            "ai_class": self.ai_class,
            "corrected_class": self.corrected_class,
            "arrays": sorted(self.files),
        }


_BODY_FIELDS = (
    "study_ref",
    "geometry",
    "labels",
    "dice",
    "hd95_mm",
    "editing_seconds",
    "agree",
    "ai_class",
    "corrected_class",
    "probabilities",
    "comment",
    "files",
)


class CorrectionStore:
    """Open (creating if needed) the store at ``root`` (default: :func:`default_store_dir`)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_store_dir()
        try:
            (self.root / "records").mkdir(parents=True, exist_ok=True)
            self._salt = load_or_create_salt(self.root)
            with self._connect() as con:
                mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{self.db_path}: cannot switch SQLite to WAL mode (got {mode})")
                con.execute(
                    "CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, created_utc TEXT NOT NULL, "
                    "plugin_id TEXT NOT NULL, plugin_version TEXT NOT NULL, weights_sha256 TEXT NOT NULL, "
                    "task TEXT NOT NULL, input_ref TEXT NOT NULL, body TEXT NOT NULL)"
                )
                con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except (OSError, sqlite3.Error, ValueError) as exc:
            raise StoreError(f"cannot open the corrections store at {self.root}: {exc}") from exc

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        try:
            con.execute("PRAGMA synchronous=FULL")
            yield con
        finally:
            con.close()

    def ref(self, value: str, kind: str = "uid") -> str:
        """The salted hash stored in place of an identifier (see :mod:`medlens.corrections.ids`)."""
        return hashed_ref(self._salt, value, kind)

    # -- writing --------------------------------------------------------------------------------
    def add(self, fields: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> str:
        """Store one record: arrays first (atomic files), then the row (one transaction)."""
        record_id = uuid.uuid4().hex
        folder = self.root / "records" / record_id
        folder.mkdir()
        fsync_dir(folder.parent)
        files = {name: atomic_save_array(folder / f"{name}.npy", arr) for name, arr in arrays.items()}
        body = {k: fields.get(k) for k in _BODY_FIELDS if k in fields}
        body["files"] = files
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        row = (
            record_id,
            created,
            str(fields["plugin_id"]),
            str(fields["plugin_version"]),
            str(fields["weights_sha256"]),
            str(fields["task"]),
            str(fields["input_ref"]),
            json.dumps(body, allow_nan=False),
        )
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return record_id

    # -- reading --------------------------------------------------------------------------------
    def _record(self, row: tuple[Any, ...]) -> CorrectionRecord:
        body = json.loads(row[7])
        return CorrectionRecord(
            id=row[0],
            created_utc=row[1],
            plugin_id=row[2],
            plugin_version=row[3],
            weights_sha256=row[4],
            task=row[5],
            input_ref=row[6],
            folder=self.root / "records" / row[0],
            **body,
        )

    def records(self, plugin_id: str | None = None) -> list[CorrectionRecord]:
        """Committed records, oldest first (optionally one plugin's)."""
        query = "SELECT * FROM records"
        args: tuple[str, ...] = ()
        if plugin_id:
            query += " WHERE plugin_id = ?"
            args = (plugin_id,)
        with self._connect() as con:
            rows = con.execute(query + " ORDER BY created_utc, rowid", args).fetchall()
        return [self._record(r) for r in rows]

    def get(self, record_id: str) -> CorrectionRecord:
        with self._connect() as con:
            row = con.execute("SELECT * FROM records WHERE id = ?", (record_id,)).fetchone()
        if row is None:
            raise StoreError(f"no correction record {record_id}")
        return self._record(row)

    def load_array(self, record: CorrectionRecord, name: str) -> np.ndarray:
        """An array of a record, checked against the sha256 stored with the row."""
        path = record.folder / f"{name}.npy"
        if name not in record.files:
            raise StoreError(f"record {record.id} has no array {name!r}")
        if not path.is_file() or sha256_path(path) != record.files[name]:
            raise StoreError(f"record {record.id}: {name}.npy is missing or damaged")
        return np.load(path, allow_pickle=False)

    # -- maintenance ----------------------------------------------------------------------------
    def integrity_check(self) -> list[str]:
        """Problems found (empty list = healthy): SQLite's own check and every record's files."""
        problems: list[str] = []
        with self._connect() as con:
            result = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
        if result != ["ok"]:
            problems += [f"sqlite: {r}" for r in result]
        for record in self.records():
            for name, sha in record.files.items():
                path = record.folder / f"{name}.npy"
                if not path.is_file():
                    problems.append(f"record {record.id}: {name}.npy missing")
                elif sha256_path(path) != sha:
                    problems.append(f"record {record.id}: {name}.npy does not match its sha256")
        return problems

    def remove_orphans(self) -> int:
        """Delete record folders with no committed row (left by a crash mid-write); returns how many.

        Only safe while no other process is writing (a folder being filled has no row yet).
        """
        known = {r.id for r in self.records()}
        removed = 0
        for folder in (self.root / "records").iterdir():
            if folder.is_dir() and folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed
