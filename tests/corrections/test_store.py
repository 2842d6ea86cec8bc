"""The corrections store: round trip, metrics, no identifiers, and survival of kill -9 mid-write."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from corrections_helpers import synthetic_case

from medlens.corrections import CorrectionStore, default_store_dir, report_correction
from medlens.corrections.metrics import dice, hausdorff95
from medlens.viewer.model import VolumeMeta

SERIES_UID = "1.2.826.0.1.3680043.8.498.1234567890"


def test_store_location(store: CorrectionStore, tmp_path: Path) -> None:
    assert store.root == tmp_path / "data" / "corrections" == default_store_dir()
    with sqlite3.connect(store.db_path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_metrics_honour_spacing() -> None:
    a = np.zeros((1, 20, 20), bool)
    b = np.zeros((1, 20, 20), bool)
    a[0, 5:10, 5:10] = True
    b[0, 5:10, 7:12] = True  # shifted 2 columns
    assert dice(a, b) == pytest.approx(2 * 15 / 50)
    assert hausdorff95(a, b, (1.0, 1.0, 1.0)) == pytest.approx(2.0)
    assert hausdorff95(a, b, (1.0, 1.0, 0.5)) == pytest.approx(1.0)  # x spacing 0.5 mm
    assert hausdorff95(a, np.zeros_like(a), (1, 1, 1)) is None
    assert dice(np.zeros_like(a), np.zeros_like(a)) == 1.0


def test_round_trip_segmentation(store: CorrectionStore, seg_registry) -> None:
    manifest = seg_registry.manifest("test.tiny-seg")
    volume, ai, corrected = synthetic_case(0, VolumeMeta(modality="CT", series_uid=SERIES_UID))
    rid = report_correction(
        store,
        plugin_manifest=manifest,
        volume=volume,
        ai_output=ai,
        corrected=corrected,
        editing_seconds=42.5,
        comment="mimic removed",
    )
    rec = CorrectionStore(store.root).get(rid)
    assert (rec.plugin_id, rec.plugin_version, rec.weights_sha256) == (
        "test.tiny-seg",
        "1.0.0",
        manifest.weights.sha256,
    )
    assert rec.dice == pytest.approx(dice(ai, corrected)) and 0 < rec.dice < 1
    assert rec.hd95_mm is not None and rec.hd95_mm > 0
    assert rec.editing_seconds == 42.5 and rec.comment == "mimic removed"
    assert rec.input_ref == store.ref(SERIES_UID, "series") and SERIES_UID not in rec.input_ref
    z0, y0, x0 = rec.geometry["crop_start_zyx"]
    image = store.load_array(rec, "image")
    np.testing.assert_array_equal(
        image, volume.array[z0 : z0 + image.shape[0], y0 : y0 + image.shape[1], x0 : x0 + image.shape[2]]
    )
    assert store.load_array(rec, "corrected").sum() == corrected.sum()
    assert store.integrity_check() == []
    raw = b"".join(p.read_bytes() for p in store.root.rglob("*") if p.is_file())
    assert SERIES_UID.encode() not in raw  # never stored in clear


def test_round_trip_classification(store: CorrectionStore) -> None:
    from types import SimpleNamespace

    manifest = SimpleNamespace(
        id="test.cls",
        version="2",
        weights=SimpleNamespace(sha256="0" * 64),
        task="classification",
        output=SimpleNamespace(class_names=["no", "yes"]),
    )
    volume, _, _ = synthetic_case(1)
    rid = report_correction(
        store,
        plugin_manifest=manifest,
        volume=volume,  # type: ignore[arg-type]
        ai_output={"no": 0.8, "yes": 0.2},
        corrected=None,
        editing_seconds=3,
        corrected_class="yes",
        slices=[1],
    )
    rec = store.get(rid)
    assert (rec.ai_class, rec.agree, rec.corrected_class) == ("no", False, "yes")
    assert store.load_array(rec, "image").shape == (1, 40, 40)


WRITER = """
import sys, numpy as np
from medlens.corrections import CorrectionStore
store = CorrectionStore(sys.argv[1])
rng = np.random.default_rng(int(sys.argv[2]))
n = 0
while True:
    arrays = {"image": rng.normal(size=(4, 64, 64)).astype(np.float32),
              "corrected": (rng.random((4, 64, 64)) > 0.5).astype(np.uint8)}
    rid = store.add({"plugin_id": "p", "plugin_version": "1", "weights_sha256": "0" * 64,
                     "task": "segmentation", "input_ref": f"r{n}", "dice": 0.5}, arrays)
    print(rid, flush=True)
    n += 1
"""


def test_survives_kill_9(tmp_path: Path) -> None:
    root = tmp_path / "store"
    CorrectionStore(root)
    committed: list[str] = []
    rng = random.Random(1)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for round_ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(root), str(round_)], stdout=subprocess.PIPE, text=True, env=env
        )
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()  # the writer is running
        committed.append(first)
        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        committed += [line for line in out.splitlines() if len(line) == 32]
        store = CorrectionStore(root)  # opens after the kill
        assert store.integrity_check() == []
        ids = {r.id for r in store.records()}
        missing = [c for c in committed if c not in ids]
        assert not missing, f"round {round_}: committed records lost: {missing}"
        for rid in committed:
            rec = store.get(rid)
            assert store.load_array(rec, "image").shape == (4, 64, 64)
    assert len(committed) >= 4
    CorrectionStore(root).remove_orphans()
    assert CorrectionStore(root).integrity_check() == []
