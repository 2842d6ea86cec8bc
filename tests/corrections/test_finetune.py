"""Fine-tuning on synthetic corrections: the over-segmenting tiny model learns the corrected threshold."""

from __future__ import annotations

from pathlib import Path

import pytest
from corrections_helpers import synthetic_case

from medlens.corrections import CorrectionStore, report_correction
from medlens.corrections.finetune import finetune_plugin
from medlens.inference.discovery import PluginRegistry

torch = pytest.importorskip("torch")


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _fill(store: CorrectionStore, registry: PluginRegistry, n: int = 8) -> None:
    manifest = registry.manifest("test.tiny-seg")
    for seed in range(n):
        volume, ai, corrected = synthetic_case(100 + seed)
        report_correction(
            store,
            plugin_manifest=manifest,
            volume=volume,
            ai_output=ai,
            corrected=corrected,
            editing_seconds=5,
        )


def test_finetune_improves_heldout_dice(store: CorrectionStore, seg_registry, tmp_path: Path) -> None:
    _fill(store, seg_registry)
    out = tmp_path / "user-plugins"
    report = finetune_plugin(
        "test.tiny-seg", store=store, registry=seg_registry, out_root=out, steps=150, lr=0.05
    )
    assert report.heldout_cases == 2 and report.train_cases == 6
    assert report.dice_after > report.dice_before + 0.1, report.note
    assert report.activated
    assert (report.folder / "plugin.toml").is_file()
    card = (report.folder / "MODEL_CARD.md").read_text()
    assert "Fine-tuned locally" in card and f"{report.dice_after:.3f}" in card
    reg = PluginRegistry.discover([out], builtin=False, user=False, entry_points=False, adapters=False)
    m = reg.manifest("test.tiny-seg.local")
    assert m.version == "1.0.0+ft1" and m.saliency is not None
    reg.open_session("test.tiny-seg.local")  # the new sha256 matches the new weights


def test_old_version_stays_active_when_not_better(
    store: CorrectionStore, seg_registry, tmp_path: Path
) -> None:
    _fill(store, seg_registry, n=4)
    out = tmp_path / "user-plugins"
    report = finetune_plugin("test.tiny-seg", store=store, registry=seg_registry, out_root=out, steps=0)
    assert not report.activated and report.dice_after == pytest.approx(report.dice_before)
    assert not (report.folder / "plugin.toml").exists() and (report.folder / "plugin.toml.inactive").is_file()
    reg = PluginRegistry.discover([out], builtin=False, user=False, entry_points=False, adapters=False)
    assert reg.usable() == []  # nothing new is discovered; the original plugin stays the one in use
    assert "kept test.tiny-seg 1.0.0 active" in report.note


def test_finetune_a_unet_on_slices_of_any_size(store: CorrectionStore, tmp_path: Path) -> None:
    """The built-in U-Net (sides must divide by 8) trains on 28 x 28 slices: crops of its patch size."""
    registry = PluginRegistry.discover([], builtin=True, user=False, entry_points=False, adapters=False)
    manifest = registry.manifest("medlens.lesion-seg")
    for seed in range(4):
        volume, ai, corrected = synthetic_case(200 + seed)
        report_correction(
            store, plugin_manifest=manifest, volume=volume, ai_output=ai, corrected=corrected,
            editing_seconds=3,
        )
    report = finetune_plugin(
        "medlens.lesion-seg", store=store, registry=registry, out_root=tmp_path / "up", steps=3, lr=1e-5
    )
    assert (report.train_cases, report.heldout_cases) == (3, 1)
    assert 0.0 <= report.dice_after <= 1.0
    reg = PluginRegistry.discover(
        [tmp_path / "up"], builtin=False, user=False, entry_points=False, adapters=False
    )
    folder = report.folder
    assert (folder / ("plugin.toml" if report.activated else "plugin.toml.inactive")).is_file()
    if report.activated:
        reg.open_session("medlens.lesion-seg.local")


def test_training_crops_have_the_patch_shape_and_cover_the_correction() -> None:
    import numpy as np

    from medlens.corrections.finetune import _crops

    rng = np.random.default_rng(0)
    x = rng.random((1, 30, 50), dtype=np.float32)
    y = np.zeros((30, 50), np.int64)
    y[20:23, 40:44] = 1
    crops = _crops(x, y, (32, 32), rng, n_fg=3)
    assert len(crops) == 4
    assert all(cx.shape == (1, 32, 32) and cy.shape == (32, 32) for cx, cy in crops)
    assert all(cy.sum() == 12 for _, cy in crops[1:])  # centred on the lesion: all of it inside
