"""Lesion U-Net members and their means (`medlens.training.members`): what the cards evaluate and ship."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from medlens.training import members
from medlens.training.export import sha256_of
from medlens.training.nets import UNet2d

SEG_PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "lesion_seg"


def _member(
    folder: Path, name: str, tag: str, seed: int, context: int = 1, mr_hi_ratio: list[float] | None = None,
    mirror: bool = False,
) -> None:
    torch.manual_seed(seed)
    net = UNet2d(in_ch=2 * context + 1 + int(mirror), base=4)
    torch.save(net.state_dict(), folder / f"seg_{name}{tag}.state.pt")
    sha = sha256_of(folder / f"seg_{name}{tag}.state.pt")
    rec: dict = {"context": context, "base": 4, "sha256": sha}
    if mr_hi_ratio:
        rec["mr_hi_ratio"] = mr_hi_ratio
    if mirror:
        rec["mirror"] = True
    (folder / f"seg_{name}{tag}.json").write_text(json.dumps(rec))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(members, "folds_dir", lambda: tmp_path)
    return tmp_path


def test_a_fold_model_is_the_mean_of_its_seeds(cache: Path) -> None:
    tags = ("_a", "_b")
    _member(cache, "lung1", "_a", 1)
    _member(cache, "lung1", "_b", 2)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        single = [members.load_unet("lung1", t)(x) for t in tags]
        mean = members.mean_unet(("lung1",), tags)(x)
    assert not torch.allclose(single[0], single[1])  # two different networks
    torch.testing.assert_close(mean, (single[0] + single[1]) / 2)
    path = members.fold_onnx("lung1", tags)
    out = ort.InferenceSession(str(path)).run(None, {"image": x.numpy()})[0]
    np.testing.assert_allclose(out, mean.numpy(), atol=1e-4)
    # retraining a member re-exports the fold model; an unchanged one is reused
    stamp = path.stat().st_mtime_ns
    assert members.fold_onnx("lung1", tags).stat().st_mtime_ns == stamp
    _member(cache, "lung1", "_b", 3)
    members.fold_onnx("lung1", tags)
    out2 = ort.InferenceSession(str(path)).run(None, {"image": x.numpy()})[0]
    assert not np.allclose(out, out2)


def test_members_of_one_mean_must_take_the_same_slices(cache: Path) -> None:
    _member(cache, "brain1", "_a", 1, context=1)
    _member(cache, "brain1", "_b", 2, context=0)
    with pytest.raises(ValueError, match="slice context"):
        members.context_of("brain1", ("_a", "_b"))


def test_a_mirror_member_takes_one_more_channel_and_stays_out_of_the_engine(cache: Path) -> None:
    _member(cache, "brain2", "_sym", 1, mirror=True)
    _member(cache, "brain2", "_a", 2)
    assert members.uses_mirror("brain2", ("_sym",)) and not members.uses_mirror("brain2", ("_a",))
    with torch.no_grad():
        out = members.load_unet("brain2", "_sym")(torch.rand(1, 4, 32, 32))
    assert out.shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="mirror"):
        members.uses_mirror("brain2", ("_sym", "_a"))
    with pytest.raises(ValueError, match="mirror channel"):
        members.fold_onnx("brain2", ("_sym",))


def test_a_fold_runs_with_the_mr_scale_its_members_trained_with(cache: Path) -> None:
    # members before lesion-seg 0.5 drew the scale per crop (no record: the default range, or a range)
    _member(cache, "brain2", "_old", 1)
    _member(cache, "brain2", "_olds2", 2, mr_hi_ratio=[1.4, 4.0])
    _member(cache, "brain2", "_k", 3, mr_hi_ratio=[3.0, 3.0])
    _member(cache, "brain2", "_ks2", 4, mr_hi_ratio=[3.0, 3.0])
    assert members.mr_scale("brain2", ("_old", "_olds2")) is None
    assert members.mr_scale("brain2", ("_k", "_ks2")) == 3.0
    with pytest.raises(ValueError, match="MR scales"):
        members.mr_scale("brain2", ("_old", "_k"))
    old = members.fold_registry(SEG_PLUGIN, "brain2", ("_old", "_olds2"), "old")
    new = members.fold_registry(SEG_PLUGIN, "brain2", ("_k", "_ks2"), "new")
    norm_old = old[0].manifest(old[1]).input.normalization
    norm_new = new[0].manifest(new[1]).input.normalization
    assert norm_old.organ_scale == {} and norm_new.organ_scale == {"MR": 3.0}
    assert norm_old.percentiles == norm_new.percentiles == (0.5, 99.5)
    assert new[0].manifest(new[1]).input.slice_context == 1


def test_a_classifier_record_is_refused_when_missing_or_built_on_other_members(cache: Path) -> None:
    tags = ("_a", "_b")
    for tag, seed in zip(tags, (1, 2), strict=True):
        _member(cache, "lung1", tag, seed)
    with pytest.raises(ValueError, match="not built yet"):
        members.classifier_record("lung1", tags)
    stem = members.classifier_stem("lung1", tags)
    assert stem == cache / "cls_lung1_mean_a_b"
    stem.with_suffix(".json").write_text(json.dumps({"seg_members": members.member_shas("lung1", tags)}))
    assert members.classifier_record("lung1", tags)["seg_members"]["seg_lung1_a"]
    _member(cache, "lung1", "_b", 3)  # a retrained member
    with pytest.raises(ValueError, match=r"other U-Net weights .* --fold lung1 --tags _a _b"):
        members.classifier_record("lung1", tags)
