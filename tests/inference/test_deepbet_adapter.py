"""The deepbet adapter: a brain mask on Colin27 that matches the distributed ch2bet brain."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk

from medlens.inference.commands import plugins_list, plugins_show
from medlens.inference.discovery import PluginRegistry
from medlens.inference.manifest import Manifest
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


def lesion_seg_manifest() -> Manifest:
    builtin = PluginRegistry.discover(user=False, entry_points=False, adapters=False)
    return builtin.manifest("medlens.lesion-seg")


@needs_deepbet
@needs_colin
@pytest.mark.slow
def test_a_plugins_brain_organ_comes_from_deepbet() -> None:
    """options.organ = { MR = "brain" } bounds findings by deepbet's mask, not by the threshold mask
    that keeps the scalp of a whole-head T1."""
    from medlens.inference.organs import organ_mask
    from medlens.inference.runner import ORGAN_MASKS, RESULT_CACHE, organ_on_model_grid

    volume = Volume.from_sitk(sitk.ReadImage(str(CH2)), VolumeMeta(modality="MR"))
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(CH2BET))) > 0
    warnings: list[str] = []
    grid = SimpleNamespace(model=volume.geometry)
    RESULT_CACHE.clear()
    ORGAN_MASKS.clear()
    steps: list[tuple[int, int]] = []
    mask = organ_on_model_grid(lesion_seg_manifest(), volume, volume.array, grid, warnings,
                               progress=lambda d, t: steps.append((d, t)))
    assert mask is not None and mask.shape == reference.shape and not warnings
    # deepbet's steps reach the caller's progress bar; the organ stays out of the user's result cache
    assert len(steps) >= 3 and steps[-1][0] == steps[-1][1]
    assert len(RESULT_CACHE) == 0 and len(ORGAN_MASKS) == 1
    again = organ_on_model_grid(lesion_seg_manifest(), volume, volume.array, grid, warnings)
    assert again is mask  # the second run of a plugin on this series does not extract the brain again

    def dice(a: np.ndarray) -> float:
        return float(2 * (a & reference).sum() / (a.sum() + reference.sum()))

    crude = organ_mask(np.asarray(volume.array, np.float32), volume.geometry.spacing, "brain")
    assert dice(mask) >= 0.9, f"Dice {dice(mask):.3f}"
    assert dice(crude) < dice(mask) - 0.05  # why deepbet: the threshold mask is cruder


def test_without_deepbet_the_brain_is_a_threshold_mask_and_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    from medlens.inference.adapters import deepbet
    from medlens.inference.organs import organ_mask
    from medlens.inference.runner import organ_on_model_grid
    from medlens.viewer.model import Geometry

    monkeypatch.setattr(deepbet, "_registry", lambda: None)
    _, y, x = np.mgrid[:6, :64, :64]
    head = ((((y - 32) / 28.0) ** 2 + ((x - 32) / 24.0) ** 2) < 1).astype(np.float32) * 300.0
    head[:, 20:44, 20:44] = 500.0  # a bright "brain" inside a "skull"
    head[:, 18:46, 18] = head[:, 18:46, 45] = 50.0
    warnings: list[str] = []
    geometry = Geometry((1.0, 1.0, 5.0))
    grid = SimpleNamespace(model=geometry)
    mr = Volume(head, geometry, VolumeMeta(modality="MR"))
    mask = organ_on_model_grid(lesion_seg_manifest(), mr, head, grid, warnings)
    assert mask is not None
    np.testing.assert_array_equal(mask, organ_mask(head, (1.0, 1.0, 5.0), "brain"))
    assert len(warnings) == 1 and "deepbet is not installed" in warnings[0]
    ct = Volume(head - 1000, geometry, VolumeMeta(modality="CT"))
    assert organ_on_model_grid(lesion_seg_manifest(), ct, head - 1000, grid, warnings) is not None
    # the lungs need no model: no deepbet warning (this "CT" is a head: it says no lungs were found)
    assert [w for w in warnings[1:] if "deepbet" in w] == [] and "no lungs found" in warnings[-1]
