"""The archived lesion U-Net members are the shipped segmenter's, and restore checks what it copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from medlens.training import member_archive, members, sources

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

SHIPPED = member_archive.ARCHIVE.parent / "model.onnx"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDLENS_CACHE_DIR", str(tmp_path / "cache"))
    return members.folds_dir()


@pytest.mark.usefixtures("torch_one_thread")
def test_restored_members_are_the_shipped_segmenter(cache: Path) -> None:
    """Restore into an empty cache: every archived member (``member_archive.ARCHIVED_TAGS``), each ONNX
    re-exported with its record's sha256, and the mean of ``SEG_TAGS``' ten is lesion-seg's shipped
    model.onnx (same logits on a random input)."""
    written = member_archive.restore()
    assert sorted(written) == sorted(member_archive.member_names())
    for stem in written:
        assert (cache / f"{stem}.onnx").is_file()
    assert member_archive.restore() == []  # already there: left alone
    mean = members.mean_unet(("all", *sources.CASES), members.SEG_TAGS)
    x = np.random.default_rng(0).uniform(0, 1, (1, 3, 64, 80)).astype(np.float32)
    with torch.no_grad():
        ours = mean(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(str(SHIPPED), providers=["CPUExecutionProvider"])
    shipped = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(ours, shipped, atol=1e-4)


def test_a_damaged_archive_or_a_retrained_member_stops_restore(cache: Path, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    shutil.copytree(member_archive.ARCHIVE, archive)
    victim = archive / "seg_lung1_k3.state.pt"
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"seg_lung1_k3\.state\.pt: sha256 differs"):
        member_archive.restore(archive)
    assert not any(cache.iterdir())  # nothing copied from a damaged archive

    shutil.copyfile(member_archive.ARCHIVE / victim.name, victim)  # repaired
    (cache / "seg_lung1_k3.state.pt").write_bytes(b"someone's retrain")
    with pytest.raises(ValueError, match="other weights for seg_lung1_k3"):
        member_archive.restore(archive)
    assert (cache / "seg_lung1_k3.state.pt").read_bytes() == b"someone's retrain"  # never overwritten
