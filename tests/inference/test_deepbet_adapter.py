"""The deepbet adapter: a brain mask on Colin27 that matches the distributed ch2bet brain."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medlens.inference.commands import plugins_list, plugins_show
from medlens.inference.discovery import PluginRegistry
from medlens.inference.runner import run_plugin
from medlens.viewer.model import Volume, VolumeMeta

TEMPLATES = Path("/usr/share/mricron/templates")
CH2, CH2BET = TEMPLATES / "ch2.nii.gz", TEMPLATES / "ch2bet.nii.gz"

needs_deepbet = pytest.mark.skipif(
    importlib.util.find_spec("deepbet") is None, reason="deepbet is not installed (pip install deepbet)"
)
needs_colin = pytest.mark.skipif(
    not (CH2.is_file() and CH2BET.is_file()),
    reason="Colin27 template missing (Debian package mricron-data: apt-get install mricron-data)",
)


def adapters_only() -> PluginRegistry:
    return PluginRegistry.discover(builtin=False, user=False, entry_points=False)


@needs_deepbet
def test_deepbet_is_listed_through_the_plugin_contract() -> None:
    reg = adapters_only()
    entry = reg.get("deepbet.brain-extraction")
    assert entry.source == "adapter" and entry.manifest is not None
    assert entry.manifest.runtime == "torchscript" and entry.manifest.input.modality == ["MR"]
    assert "deepbet.brain-extraction" in plugins_list(registry=reg)
    assert "Not for clinical use" in plugins_show("deepbet.brain-extraction", registry=reg)


@needs_deepbet
@needs_colin
@pytest.mark.slow
def test_deepbet_brain_mask_dice_on_colin27() -> None:
    reg = adapters_only()
    volume = Volume.from_sitk(sitk.ReadImage(str(CH2)), VolumeMeta(modality="MR"))
    result = run_plugin("deepbet.brain-extraction", volume, registry=reg)
    assert result.label_map is not None and result.label_map.geometry == volume.geometry
    mask = result.label_map.array == 1
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(CH2BET))) > 0
    dice = 2 * (mask & reference).sum() / (mask.sum() + reference.sum())
    assert dice >= 0.9, f"Dice {dice:.3f}"
    assert result.heatmaps[0].kind == "probability"
    assert np.all(result.heatmaps[0].array[mask] > 0.5)
