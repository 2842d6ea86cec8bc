"""Fold models wrapped as plugins (`engine.registry_for`), as the cards' evaluations run them."""

from __future__ import annotations

from pathlib import Path

from medlens.training.engine import registry_for
from medlens.training.export import sha256_of

CLS = Path(__file__).resolve().parents[2] / "plugins" / "lesion_cls"


def test_a_fold_carries_its_own_weights_context_and_saliency_twin() -> None:
    onnx, twin = CLS / "model.onnx", CLS / "model.pt"  # stand-ins for a fold's files
    reg, pid = registry_for(CLS, onnx, suffix="fold-x", slice_context=2, saliency=twin)
    m = reg.manifest(pid)
    assert pid == "medlens.lesion-cls.fold-x"
    assert m.input.slice_context == 2 and m.input.num_channels == 6  # 5 slices + the organ mask
    assert m.weights.sha256 == sha256_of(onnx)
    assert m.extra_weights["saliency"].sha256 == sha256_of(twin)
    folder = reg.get(pid).path
    assert folder is not None and (folder / m.extra_weights["saliency"].file).is_file()
    bare, bare_id = registry_for(CLS, onnx, suffix="fold-y")
    assert "saliency" not in bare.manifest(bare_id).extra_weights  # no twin named: none claimed


def test_input_fields_make_a_3d_patch_variant_of_a_2d_plugin() -> None:
    seg = CLS.parent / "lesion_seg"
    fields = {"dims": 3, "spacing": [1.0, 1.0, 5.0], "spatial_shape": [5, 96, 96]}
    reg, pid = registry_for(seg, seg / "model.onnx", suffix="dims3", slice_context=0, input_fields=fields)
    m = reg.manifest(pid)
    assert m.input.dims == 3 and m.input.num_channels == 1 and m.input.slice_context == 0
    assert m.input.spacing == (1.0, 1.0, 5.0) and m.input.spatial_shape == (5, 96, 96)
