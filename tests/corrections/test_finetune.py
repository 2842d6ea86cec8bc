"""Fine-tuning on synthetic corrections: the over-segmenting tiny model learns the corrected threshold."""

from __future__ import annotations

from pathlib import Path

import pytest
from corrections_helpers import synthetic_case

from medlens.corrections import CorrectionStore, report_correction
from medlens.corrections.finetune import finetune_plugin
from medlens.inference.discovery import PluginRegistry

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
