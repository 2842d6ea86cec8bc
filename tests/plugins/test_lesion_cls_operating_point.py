"""lesion-cls's operating threshold: the rule train.py fits it by, and how it reaches plugin.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from medlens.inference import load_manifest
from medlens.training import studies

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "lesion_cls"


def test_the_threshold_keeps_the_specificity_floor_after_rounding() -> None:
    """Rounded to 4 decimals upwards, the threshold still leaves >= 90 % of the negatives below it, and
    sits no more than 1e-4 above the exact one; Youden's J is kept beside it."""
    train = studies.script_module(PLUGIN / "train.py")
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.beta(1, 12, 300), rng.beta(3, 4, 40)])
    y = np.array([0] * 300 + [1] * 40)
    t = train.thresholds(p, y)
    assert np.mean(p[:300] < t["threshold"]) >= train.MIN_SPECIFICITY
    assert np.mean(p[:300] < t["threshold"] - 1e-4) < train.MIN_SPECIFICITY  # the lowest such threshold
    assert round(t["threshold"], 4) == t["threshold"] and 0 < t["threshold_youden"] < 1


def test_stamping_the_threshold_changes_only_that_field(tmp_path: Path) -> None:
    train = studies.script_module(PLUGIN / "train.py")
    copy = tmp_path / "lesion_cls"
    shutil.copytree(PLUGIN, copy, ignore=shutil.ignore_patterns("*.py", "*.json", "*.png", "__pycache__"))
    before = load_manifest(copy)
    train.stamp_threshold(copy / "plugin.toml", 0.1234)
    after = load_manifest(copy)
    assert after.options.threshold == 0.1234
    assert after.model_copy(update={"options": before.options}) == before
    assert "# operating point" in (copy / "plugin.toml").read_text()  # the line's comment is kept
