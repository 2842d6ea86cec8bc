"""Fixtures of the corrections tests: a store in a temporary MEDLENS_DATA_DIR."""

from __future__ import annotations

from pathlib import Path

import pytest

from medlens.corrections import CorrectionStore


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CorrectionStore:
    monkeypatch.setenv("MEDLENS_DATA_DIR", str(tmp_path / "data"))
    return CorrectionStore()


@pytest.fixture
def seg_registry(tmp_path: Path):
    from corrections_helpers import tiny_seg_plugin

    from medlens.inference.discovery import PluginRegistry

    tiny_seg_plugin(tmp_path / "plugins")
    return PluginRegistry.discover(
        [tmp_path / "plugins"], builtin=False, user=False, entry_points=False, adapters=False
    )
