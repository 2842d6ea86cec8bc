"""The learnt component rule: region features in mm, the ranker's choice, and its manifest weights."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from infer_helpers import TinyThreshold3d, ball_volume
from scipy import ndimage

from medlens.inference.discovery import PluginRegistry
from medlens.inference.errors import ManifestError
from medlens.inference.manifest import load_manifest
from medlens.inference.postprocess import select_component
from medlens.inference.region_ranker import FEATURES, RegionRanker, region_features
from medlens.inference.runner import run_plugin
from medlens.viewer.model import Volume


def ranker(**coef: float) -> RegionRanker:
    """Weights on raw features (mean 0, scale 1): only the named ones count."""
    n = len(FEATURES)
    return RegionRanker(FEATURES, (0.0,) * n, (1.0,) * n, tuple(coef.get(f, 0.0) for f in FEATURES), 0.0)


def blob_and_vessel() -> tuple[np.ndarray, np.ndarray]:
    """A compact 5 x 5 x 5 blob at p 0.7 and a long 2 x 2 x 30 'vessel' at p 0.95, one speckle at 1.0."""
    prob = np.zeros((12, 16, 40), np.float32)
    prob[2:7, 2:7, 2:7] = 0.7
    prob[9:11, 10:12, 5:35] = 0.95
    prob[0, 15, 39] = 1.0
    return (prob > 0.5).astype(np.uint8), prob


def test_region_features_are_measured_in_mm() -> None:
    """Volume, mass and slice extent follow the spacing; the vessel is long and the blob fills its box."""
    labels, prob = blob_and_vessel()
    components, n = ndimage.label(labels, np.ones((3, 3, 3), bool))
    index = np.arange(1, n + 1)
    spacing = (2.5, 0.8, 0.8)  # z, y, x
    table = region_features(components, index, prob, spacing)
    f = {name: table[:, i] for i, name in enumerate(FEATURES)}
    blob, vessel = components[4, 4, 4] - 1, components[10, 10, 20] - 1
    voxel = 2.5 * 0.8 * 0.8
    assert f["log_volume"][blob] == pytest.approx(np.log10(125 * voxel))
    assert f["log_mass"][vessel] == pytest.approx(np.log10(120 * 0.95 * voxel), rel=1e-5)
    assert f["mean"][blob] == pytest.approx(0.7) and f["peak"][vessel] == pytest.approx(0.95)
    assert f["high_share"][vessel] == 1.0 and f["high_share"][blob] == 0.0
    assert f["log_z_extent"][blob] == pytest.approx(np.log10(5 * 2.5))
    assert f["fill"][blob] == 1.0
    # 30 voxels of 0.8 mm along x against 2 of 0.8 mm across: sqrt of the spread ratio is far above 1;
    # the blob is 5 x 2.5 mm deep against 5 x 0.8 mm wide, an anisotropy the spacing must show too
    assert f["log_elongation"][vessel] > 1.0
    assert 0.3 < f["log_elongation"][blob] < 0.6
    assert f["log_elongation"][blob] == pytest.approx(np.log10(2.5 / 0.8), abs=0.02)


def test_learned_rule_keeps_what_its_weights_prefer_and_never_speckle() -> None:
    """Penalising elongation keeps the blob over the brighter, bigger vessel; rewarding the mean keeps the
    vessel; the lone voxel at 1.0 is never kept while a real region exists."""
    labels, prob = blob_and_vessel()
    compact = select_component(labels, prob, "learned", 1, ranker(log_elongation=-1.0))
    assert compact[4, 4, 4] == 1 and compact.sum() == 125
    bright = select_component(labels, prob, "learned", 1, ranker(mean=1.0, peak=1.0))
    assert bright[10, 10, 20] == 1 and bright.sum() == 120
    only_speckle = np.zeros_like(labels)
    only_speckle[0, 15, 39] = only_speckle[0, 0, 0] = 1
    assert select_component(only_speckle, prob, "learned", 1, ranker(mean=1.0)).sum() == 1
    with pytest.raises(ValueError, match="region ranker"):
        select_component(labels, prob, "learned", 1)


def test_ranker_weights_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown region features"):
        RegionRanker(("size",), (0.0,), (1.0,), (1.0,), 0.0)
    with pytest.raises(ValueError, match="one mean, scale and coef"):
        RegionRanker(("mean", "peak"), (0.0,), (1.0, 1.0), (1.0, 1.0), 0.0)
    with pytest.raises(ValueError, match="positive"):
        RegionRanker(("mean",), (0.0,), (0.0,), (1.0,), 0.0)


def test_manifest_learned_rule_runs_through_the_engine(
    make_plugin: Callable[..., Path], tmp_path: Path
) -> None:
    """``component_rule = "learned"`` with ``[options.region_ranker]``: the engine keeps the compact
    region, where "mean" keeps the brighter bar; without weights the manifest is refused."""
    vol = ball_volume()
    array = np.zeros(vol.array.shape, np.float32)
    array[4:9, 4:12, 4:12] = 0.75  # compact, fainter
    array[14:17, 14:18, 1:27] = 1.0  # a long bright bar
    vol = Volume(array, vol.geometry, vol.meta)
    weights = ("[options.region_ranker]\nfeatures = [\"log_elongation\"]\nmean = [0.0]\nscale = [1.0]\n"
               "coef = [-1.0]\nintercept = 0.0\n")
    patched = 'spatial_shape = [8, 8, 8]\noverlap = 0.5\nbatch_size = 2\nspacing = [1.5, 1.5, 1.5]'
    kept = {}
    for rule, extra in (("mean", ""), ("learned", weights)):
        folder = make_plugin(f"rule-{rule}", TinyThreshold3d(), input_extra=patched)
        with (folder / "plugin.toml").open("a") as f:
            f.write(f'\n[options]\nkeep_largest_component = true\ncomponent_rule = "{rule}"\n{extra}')
        reg = PluginRegistry.discover([tmp_path / "plugins"], builtin=False, user=False, entry_points=False,
                                      adapters=False)
        result = run_plugin(f"rule-{rule}", vol, registry=reg)
        assert result.label_map is not None
        kept[rule] = result.label_map.array == 1
    assert kept["mean"][15, 16, 14] and not kept["mean"][6, 8, 8]
    assert kept["learned"][6, 8, 8] and not kept["learned"][15, 16, 14]
    folder = make_plugin("no-weights", TinyThreshold3d(), input_extra=patched)
    with (folder / "plugin.toml").open("a") as f:
        f.write('\n[options]\nkeep_largest_component = true\ncomponent_rule = "learned"\n')
    with pytest.raises(ManifestError, match="region_ranker"):
        load_manifest(folder / "plugin.toml")
