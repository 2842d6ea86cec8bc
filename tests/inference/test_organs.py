"""Organ masks and the "inside the organ" restriction on a synthetic chest phantom."""

from __future__ import annotations

import numpy as np
import pytest

from medlens.inference.organs import lung_mask, organ_mask
from medlens.inference.postprocess import restrict_to_organ


def chest_phantom() -> tuple[np.ndarray, dict[str, tuple[slice, ...]]]:
    """20 slices of 200² at 2 mm: air, a soft-tissue body, two aerated lungs 6 cm apart (the
    mediastinum), a nodule in one lung, a 3 cm mass against the other lung's outer wall, and a
    round soft-tissue blob below the lungs (a diaphragm dome seen in cross-section)."""
    z, y, x = np.mgrid[:20, :200, :200].astype(np.float32)
    hu = np.full(z.shape, -1000.0, np.float32)
    hu[((y - 100) / 70) ** 2 + ((x - 100) / 92) ** 2 < 1] = 40.0
    lungs = (z < 15) & ((((y - 100) / 45) ** 2 + ((x - 55) / 30) ** 2 < 1)
                        | (((y - 100) / 45) ** 2 + ((x - 145) / 30) ** 2 < 1))
    hu[lungs] = -850.0
    regions = {
        "nodule": (slice(6, 9), slice(96, 104), slice(50, 58)),
        "mass": (slice(5, 10), slice(92, 108), slice(163, 177)),  # against the outer chest wall
        "blob": (slice(16, 19), slice(90, 110), slice(45, 65)),  # below the lungs
    }
    for r in regions.values():
        hu[r] = 30.0
    return hu, regions


def test_lung_mask_holds_what_sits_in_the_lungs() -> None:
    hu, regions = chest_phantom()
    lungs = organ_mask(hu, (2.0, 2.0, 2.0), "lungs")
    assert lungs[regions["nodule"]].all()  # a nodule is a hole in the air, filled
    assert lungs[regions["mass"]].mean() > 0.5  # a mass against the wall: mostly inside
    # (the 10 mm mask that places training lesions leaves it outside: why the field is closed wider)
    assert lung_mask(hu, (2.0, 2.0, 2.0), closing_mm=10.0)[regions["mass"]].mean() < 0.5
    assert not lungs[regions["blob"]].any()
    assert not lungs[10, 100, 100]  # mediastinum
    with pytest.raises(ValueError, match="unknown organ"):
        organ_mask(hu, (2.0, 2.0, 2.0), "liver")


def test_restrict_to_organ_drops_regions_mostly_outside() -> None:
    hu, regions = chest_phantom()
    lungs = organ_mask(hu, (2.0, 2.0, 2.0), "lungs")
    labels = np.zeros(hu.shape, np.uint8)
    for r in regions.values():
        labels[r] = 1
    kept = restrict_to_organ(labels, lungs, 0.5)
    assert kept[regions["nodule"]].all() and kept[regions["mass"]].all()
    assert not kept[regions["blob"]].any()
    assert not restrict_to_organ(labels, lungs, 1.0)[regions["mass"]].any()  # "wholly inside" drops it


def test_a_file_without_modality_gets_the_organ_its_intensities_suggest() -> None:
    """NIfTI / NRRD state no modality: a CT-and-MR plugin bounds findings by the lungs when the
    volume holds air in HU, by the brain otherwise; a stated modality always wins."""
    from medlens.inference.discovery import PluginRegistry
    from medlens.inference.runner import organ_modality
    from medlens.viewer.model import Geometry, Volume, VolumeMeta

    builtin = PluginRegistry.discover(user=False, entry_points=False, adapters=False)
    seg = builtin.manifest("medlens.lesion-seg")
    hu, _ = chest_phantom()
    t1 = np.abs(hu + 1000.0)  # positive scanner units, no air at -1000

    def vol(a: np.ndarray, modality: str) -> Volume:
        return Volume(a, Geometry((2.0, 2.0, 2.0)), VolumeMeta(modality=modality))

    assert organ_modality(seg, vol(hu, ""), hu) == "CT"
    assert organ_modality(seg, vol(t1, ""), t1) == "MR"
    assert organ_modality(seg, vol(t1, "CT"), t1) == "CT"  # what the series says
    ct_only = seg.model_copy(update={"input": seg.input.model_copy(update={"modality": ["CT"]})})
    assert organ_modality(ct_only, vol(t1, ""), t1) == "CT"  # the only one it accepts


def test_the_organ_has_its_share_of_the_progress_bar() -> None:
    """A plugin bounded by an organ reports the organ as the last part of its progress: the bar only
    reaches the end once the organ is there (deepbet's brain takes as long as a lesion pass)."""
    from medlens.inference import run_plugin
    from medlens.inference.discovery import PluginRegistry
    from medlens.inference.runner import RunOptions
    from medlens.viewer.model import Geometry, Volume, VolumeMeta

    builtin = PluginRegistry.discover(user=False, entry_points=False, adapters=False)
    hu, _ = chest_phantom()
    seen: list[float] = []
    chest = Volume(hu, Geometry((2.0, 2.0, 2.0)), VolumeMeta(modality="CT"))
    result = run_plugin("medlens.lesion-seg", chest, RunOptions(use_cache=False), registry=builtin,
                        progress=lambda d, t: seen.append(d / t))
    assert result.label_map is not None
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert max(f for f in seen if f < 1.0) <= 0.5  # the network's pass is half; the lungs the other half
