"""``input.normalization.organ_scale``: MR intensities scaled by the organ's median, not the field of view."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from infer_helpers import torch
from test_plugin_manifest import problems, valid

from medlens.inference import RunOptions, run_plugin
from medlens.inference import runner as runner_mod
from medlens.inference.discovery import PluginRegistry
from medlens.inference.manifest import load_manifest, parse_manifest
from medlens.inference.preprocess import resample_to_model
from medlens.viewer.model import Geometry, Volume, VolumeMeta

BRAIN = (slice(2, 8), slice(6, 26), slice(6, 26))


def registry_for(tmp_path: Path) -> PluginRegistry:
    return PluginRegistry.discover([tmp_path / "plugins"], builtin=False, user=False, entry_points=False,
                                   adapters=False)


class Above(torch.nn.Module):
    """Pointwise 'lesion' logit: 40 * (x - 0.6), so a normalised value above 0.6 is foreground."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 40 * (x[:, 1:2] - 0.6)


def head(scalp: float) -> Volume:
    """A 'T1 head': brain 100 with one lesion at 150 (1.5 x the brain), and a scalp ring of
    ``scalp`` around it (fat in a whole-head contrast T1; 0 in a skull-stripped series)."""
    a = np.zeros((10, 32, 32), np.float32)
    a[:, 3:29, 3:29] = scalp
    a[BRAIN] = 100.0
    a[4:6, 14:18, 14:18] = 150.0
    return Volume(a, Geometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0)), VolumeMeta(modality="MR"))


@pytest.fixture
def brain_is_known(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The organ mask is the synthetic brain (deepbet does not run on a toy head); records calls."""
    calls: list[str] = []

    def mask(name: str, array: np.ndarray, *_: Any) -> np.ndarray:
        calls.append(name)
        out = np.zeros(array.shape, bool)
        out[BRAIN] = array[BRAIN] > 0
        return out

    monkeypatch.setattr(runner_mod, "_organ_mask", mask)
    runner_mod.ORGAN_MASKS.clear()
    return calls


def lesion_plugin(make_plugin: Callable[..., Path], scale: str) -> Path:
    folder = make_plugin(
        "mrlesion",
        Above(),
        example=torch.rand(1, 3, 8, 8),
        dims=2,
        modality='["MR"]',
        input_extra="slice_context = 1",
        normalization=f'kind = "percentile"\npercentiles = [0.5, 99.5]\n{scale}',
        output='num_channels = 1\nactivation = "sigmoid"\n'
        'labels = [{ value = 1, name = "lesion", color = [255, 0, 0] }]\n\n'
        '[options]\norgan = { MR = "brain" }\nthreshold = 0.5',
    )
    toml = folder / "plugin.toml"
    text = toml.read_text().replace("num_channels = 1\nslice_context", "num_channels = 3\nslice_context")
    toml.write_text(text)
    return folder


def test_the_brain_lands_at_one_over_k_whatever_the_field_of_view(
    make_plugin: Callable[..., Path], tmp_path: Path, brain_is_known: list[str]
) -> None:
    """With the scale the lesion (1.5 x the brain -> 0.75 at k = 2) is found in the whole head and in
    the skull-stripped series alike; with percentiles alone the bright scalp pushes it to 0.15."""
    lesion = np.zeros((10, 32, 32), bool)
    lesion[4:6, 14:18, 14:18] = True
    scaled = lesion_plugin(make_plugin, "organ_scale = { mr = 2.0 }")
    reg = registry_for(tmp_path)
    assert load_manifest(scaled).input.normalization.organ_scale == {"MR": 2.0}
    for scalp in (1000.0, 0.0):
        steps: list[tuple[int, int]] = []
        out = run_plugin("mrlesion", head(scalp), RunOptions(use_cache=False), registry=reg,
                         progress=lambda d, t, steps=steps: steps.append((d, t)))
        assert out.label_map is not None
        assert np.array_equal(np.asarray(out.label_map.array) > 0, lesion), scalp
        fractions = [d / t for d, t in steps]  # the organ first, then the network: never backwards
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert brain_is_known == ["brain", "brain"]  # once per series: the run reuses the scaling's organ

    (scaled / "plugin.toml").write_text((scaled / "plugin.toml").read_text().replace(
        "organ_scale = { mr = 2.0 }", ""))
    plain = run_plugin("mrlesion", head(1000.0), RunOptions(use_cache=False),
                       registry=registry_for(tmp_path))
    assert plain.label_map is not None and not np.asarray(plain.label_map.array).any()


def test_no_organ_falls_back_to_percentiles_and_says_so(
    make_plugin: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_mod, "_organ_mask", lambda name, array, *_: np.zeros(array.shape, bool))
    runner_mod.ORGAN_MASKS.clear()
    lesion_plugin(make_plugin, "organ_scale = { MR = 2.0 }")
    out = run_plugin("mrlesion", head(0.0), RunOptions(use_cache=False),
                     registry=registry_for(tmp_path))
    assert any("no organ to scale them by" in w for w in out.warnings), out.warnings
    assert any("no brain found" in w for w in out.warnings), out.warnings


def test_fine_tuning_and_saliency_see_the_same_input(
    make_plugin: Callable[..., Path], tmp_path: Path, brain_is_known: list[str]
) -> None:
    """``normalized_input`` is the one path: what fine-tuning predicts equals the engine's labels."""
    from medlens.corrections.finetune import predict_labels

    folder = lesion_plugin(make_plugin, "organ_scale = { MR = 2.0 }")
    m = load_manifest(folder)
    volume = head(1000.0)
    array, grid = resample_to_model(volume, m.input.spacing, m.input.orientation, keep_z_spacing=True)
    norm, imap, organ = runner_mod.normalized_input(m, volume, array, grid, [])
    assert organ is not None and imap.high == pytest.approx(200.0)  # k x the brain's median
    assert norm[BRAIN].min() == pytest.approx(0.5) and norm.max() == pytest.approx(1.0)

    def run(batch: np.ndarray) -> np.ndarray:
        return Above()(torch.from_numpy(batch)).numpy()

    engine = run_plugin("mrlesion", volume, RunOptions(use_cache=False),
                        registry=registry_for(tmp_path))
    assert engine.label_map is not None
    assert np.array_equal(predict_labels(m, volume, run) > 0, np.asarray(engine.label_map.array) > 0)


@pytest.mark.parametrize(
    ("normalization", "organ", "expected"),
    [
        ({"kind": "ct_window", "window": [-57, 164], "organ_scale": {"CT": 3}}, {"CT": "lungs"},
         'input.normalization.organ_scale: only with kind = "percentile"'),
        ({"kind": "percentile", "organ_scale": {"MR": 3}}, {"CT": "lungs"},
         "input.normalization.organ_scale: no options.organ for MR"),
        ({"kind": "percentile", "organ_scale": {"CT": 0.5}}, {"CT": "lungs"},
         "input.normalization.organ_scale.CT: expected a factor above 1"),
    ],
)
def test_organ_scale_is_validated(
    tmp_path: Path, normalization: dict[str, Any], organ: dict[str, str], expected: str
) -> None:
    data = valid(tmp_path)
    data["input"]["normalization"] = normalization
    data["options"] = {"organ": organ}
    assert expected in problems(data, tmp_path)
    data["input"]["normalization"] = {"kind": "percentile", "organ_scale": {"CT": 3}}
    data["options"] = {"organ": {"CT": "lungs"}}
    assert parse_manifest(data, tmp_path).input.normalization.organ_scale == {"CT": 3.0}
