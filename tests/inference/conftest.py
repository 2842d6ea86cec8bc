"""Fixtures for the inference tests (builders live in infer_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from infer_helpers import torch, write_plugin

from medlens.inference.runner import ORGAN_MASKS, RESULT_CACHE


@pytest.fixture(autouse=True)
def _fresh_result_cache() -> None:
    RESULT_CACHE.clear()
    ORGAN_MASKS.clear()


@pytest.fixture
def make_plugin(tmp_path: Path) -> Callable[..., Path]:
    """``make_plugin(id, model, **options)`` -> plugin folder under ``tmp_path/plugins``."""

    def make(plugin_id: str, model: torch.nn.Module, **kwargs: object) -> Path:
        return write_plugin(tmp_path / "plugins", plugin_id, model, **kwargs)  # type: ignore[arg-type]

    return make
