"""End-to-end runs of tiny exported networks through the runner, both runtimes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from infer_helpers import (
    SLICE_DETECTOR,
    Identity3d,
    TinyClassifier,
    TinySeg3d,
    TinyThreshold3d,
    ball_volume,
    torch,
)

from medlens.inference.commands import plugins_list, plugins_show, run_infer
from medlens.inference.discovery import PluginRegistry
from medlens.inference.errors import InferenceCancelled, InferenceError, OutOfMemory
from medlens.inference.jobs import Job
from medlens.inference.runner import RunOptions, SafePredictor, run_plugin
from medlens.viewer.model import Geometry, Volume, VolumeMeta


def registry_for(root: Path) -> PluginRegistry:
    return PluginRegistry.discover([root], builtin=False, user=False, entry_points=False, adapters=False)


PATCHED = (
    'spatial_shape = [8, 8, 8]\noverlap = 0.5\nbatch_size = 2\nspacing = [1.5, 1.5, 1.5]\norientation = "RAS"'
)


def test_onnx_and_torchscript_agree(make_plugin: Callable[..., Path], tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = TinySeg3d()
    make_plugin("seg-onnx", net, runtime="onnx", input_extra=PATCHED)
    make_plugin("seg-ts", net, runtime="torchscript", input_extra=PATCHED)
    reg = registry_for(tmp_path / "plugins")
    batch = np.random.default_rng(0).random((2, 1, 8, 8, 8), dtype=np.float32)
    a, b = reg.open_session("seg-onnx"), reg.open_session("seg-ts")
    assert (a.device, b.device) == ("CPU (onnxruntime)", "CPU (torch)")
    np.testing.assert_allclose(a.run(batch), b.run(batch), atol=1e-4)
    vol = ball_volume()
    ra, rb = run_plugin("seg-onnx", vol, registry=reg), run_plugin("seg-ts", vol, registry=reg)
    assert np.abs(ra.heatmaps[0].array - rb.heatmaps[0].array).max() <= 1e-4
    assert ra.label_map is not None and rb.label_map is not None


def test_segmentation_result_is_on_the_source_grid(make_plugin: Callable[..., Path], tmp_path: Path) -> None:
    make_plugin("thresh", TinyThreshold3d(), input_extra=PATCHED)
    reg = registry_for(tmp_path / "plugins")
    vol = ball_volume()
    result = run_plugin("thresh", vol, registry=reg)
    lm = result.label_map
    assert lm is not None and lm.geometry == vol.geometry and lm.array.shape == vol.array.shape
    assert [(lab.value, lab.name) for lab in lm.labels] == [(1, "lesion")]
    truth = vol.array > 0.5
    dice = 2 * ((lm.array == 1) & truth).sum() / ((lm.array == 1).sum() + truth.sum())
    assert dice > 0.9
    (prob,) = result.heatmaps
    assert prob.kind == "probability" and prob.geometry == vol.geometry
    assert result.device == "CPU (onnxruntime)" and result.warnings == []


def test_tta_gives_an_uncertainty_map_and_largest_component(
    make_plugin: Callable[..., Path], tmp_path: Path
) -> None:
    torch.manual_seed(3)
    make_plugin("seg", TinySeg3d(), input_extra=PATCHED)
    reg = registry_for(tmp_path / "plugins")
    opts = RunOptions(tta_flips=True, keep_largest_component=True)
    result = run_plugin("seg", ball_volume(), opts, registry=reg)
    kinds = [h.kind for h in result.heatmaps]
    assert kinds == ["uncertainty", "probability"]
    spread = result.heatmaps[0].array
    assert spread.max() > 0 and spread.min() >= 0  # a random net disagrees with its mirror image
    from scipy import ndimage

    assert result.label_map is not None
    _, n = ndimage.label(result.label_map.array == 1, np.ones((3, 3, 3)))
    assert n <= 1


def test_tta_axes_flip_only_what_the_model_was_trained_on(
    make_plugin: Callable[..., Path], tmp_path: Path
) -> None:
    """A 'model' that shifts its answer one row down is mirror-invariant left-right, not up-down: with
    ``tta_axes = ["x"]`` flip TTA agrees with itself (no spread); flipping y as well shows a spread,
    the model's failure on an input it never saw, which is not its uncertainty."""

    class ShiftDown(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logit = 10 * (torch.roll(x, 1, dims=2) - 0.5)
            return torch.cat([torch.zeros_like(logit), logit], dim=1)

    folder = make_plugin("shift", ShiftDown(), dims=2)
    with (folder / "plugin.toml").open("a") as f:
        f.write('\n[options]\ntta_axes = ["x"]\n')
    vol = ball_volume()
    opts = RunOptions(tta_flips=True, use_cache=False)
    steps: list[tuple[int, int]] = []
    only_x = run_plugin("shift", vol, opts, registry=registry_for(tmp_path / "plugins"),
                        progress=lambda d, t: steps.append((d, t)))
    assert only_x.heatmaps[0].kind == "uncertainty" and only_x.heatmaps[0].array.max() == 0.0
    nz = vol.array.shape[0]
    assert max(total for _, total in steps) == 2 * nz  # two passes of every slice: as is, mirrored l-r
    toml = folder / "plugin.toml"
    toml.write_text(toml.read_text().replace('tta_axes = ["x"]', 'tta_axes = ["y", "x"]'))
    with_y = run_plugin("shift", vol, opts, registry=registry_for(tmp_path / "plugins"))
    assert with_y.heatmaps[0].array.max() > 0.3


def test_manifest_component_rule_keeps_the_most_probable_region(
    make_plugin: Callable[..., Path], tmp_path: Path
) -> None:
    """A big faint region (p 0.73) and a small bright one (p 0.99): "size" keeps the big one, the
    manifest's ``component_rule = "mean"`` the bright one, both on the source grid."""
    vol = ball_volume()
    array = np.zeros(vol.array.shape, np.float32)
    array[2:12, 2:14, 2:14] = 0.6
    array[14:18, 16:20, 18:22] = 1.0
    vol = Volume(array, vol.geometry, vol.meta)
    for rule, region in (
        ("size", (slice(2, 12), slice(2, 14), slice(2, 14))),
        ("mean", (slice(14, 18), slice(16, 20), slice(18, 22))),
    ):
        folder = make_plugin(f"rule-{rule}", TinyThreshold3d(), input_extra=PATCHED)
        with (folder / "plugin.toml").open("a") as f:
            f.write(f'\n[options]\nkeep_largest_component = true\ncomponent_rule = "{rule}"\n')
        reg = registry_for(tmp_path / "plugins")
        result = run_plugin(f"rule-{rule}", vol, registry=reg)
        assert result.label_map is not None
        kept = result.label_map.array == 1
        expected = np.zeros(kept.shape, bool)
        expected[region] = True
        dice = 2 * (kept & expected).sum() / (kept.sum() + expected.sum())
        assert dice > 0.8, (rule, dice)


def test_manifest_grow_threshold_reports_a_split_lesion_whole(
    make_plugin: Callable[..., Path], tmp_path: Path
) -> None:
    """``grow_threshold``: the region the component rule keeps grows through connected voxels above
    it, so a lesion split by a dip below the threshold is reported whole; without it, a piece."""
    vol = ball_volume()
    array = np.zeros(vol.array.shape, np.float32)
    array[2:6, 4:12, 4:12] = 1.0
    array[6:8, 4:12, 4:12] = 0.35  # a dip: probability 0.18 (TinyThreshold3d: softmax of 10 * (x - 0.5))
    array[8:12, 4:12, 4:12] = 0.8
    vol = Volume(array, vol.geometry, vol.meta)
    sizes = {}
    for name, grow in (("nogrow", ""), ("grow", "grow_threshold = 0.1\n")):
        folder = make_plugin(name, TinyThreshold3d(), input_extra=PATCHED)
        with (folder / "plugin.toml").open("a") as f:
            f.write(f'\n[options]\nkeep_largest_component = true\ncomponent_rule = "peak"\n{grow}')
        result = run_plugin(name, vol, registry=registry_for(tmp_path / "plugins"))
        assert result.label_map is not None
        sizes[name] = int((result.label_map.array == 1).sum())
    assert sizes["grow"] > 2.5 * sizes["nogrow"] > 0


@pytest.mark.parametrize("rule", ["mean", "peak"])
def test_a_2p5d_models_end_slices_do_not_win_the_component_rule(rule: str) -> None:
    """A confident region on the first slice (padded neighbours) and a less confident one inside the
    series: a 2.5D model's rule keeps the inner one, a 2D model's the end one; an end-slice region
    alone is still reported."""
    from medlens.inference.postprocess import select_component
    from medlens.inference.runner import ranking_scores

    prob = np.zeros((10, 20, 20), np.float32)
    prob[0, 2:8, 2:8] = 0.99  # lung base on the first slice
    prob[4:7, 12:17, 12:17] = 0.8  # the lesion
    labels = (prob > 0.5).astype(np.uint8)
    kept_2d = select_component(labels, ranking_scores(prob, 0), rule, 1)
    kept_25d = select_component(labels, ranking_scores(prob, 1), rule, 1)
    assert kept_2d[0].any() and not kept_2d[5].any()
    assert kept_25d[5, 14, 14] and not kept_25d[0].any()
    assert kept_25d.sum() == labels[4:7].sum()
    only_end = labels.copy()
    only_end[4:7] = 0
    assert select_component(only_end, ranking_scores(prob, 1), rule, 1).sum() == only_end.sum()
    np.testing.assert_array_equal(ranking_scores(prob[:2], 1), prob[:2])  # too few slices: unchanged


def test_wrong_modality_is_refused_and_missing_modality_warned(
    make_plugin: Callable[..., Path], tmp_path: Path
) -> None:
    make_plugin("ct-only", TinyThreshold3d())
    reg = registry_for(tmp_path / "plugins")
    with pytest.raises(InferenceError, match=r"^plugin ct-only accepts CT, this series is MR$"):
        run_plugin("ct-only", ball_volume(modality="MR"), registry=reg)
    result = run_plugin("ct-only", ball_volume(modality=""), registry=reg)
    assert result.warnings == ["the series does not state its modality; assumed CT as plugin ct-only expects"]


def test_second_request_reuses_the_cached_result(make_plugin: Callable[..., Path], tmp_path: Path) -> None:
    make_plugin("thresh", TinyThreshold3d())
    reg = registry_for(tmp_path / "plugins")
    vol = ball_volume()
    first = run_plugin("thresh", vol, registry=reg)
    again = run_plugin("thresh", Volume(vol.array.copy(), vol.geometry, vol.meta), registry=reg)
    assert not first.cached and again.cached and again.label_map is first.label_map
    changed = vol.array.copy()
    changed[0, 0, 0] = 1.0  # one edited voxel is a different input
    assert not run_plugin("thresh", Volume(changed, vol.geometry, vol.meta), registry=reg).cached
    assert not run_plugin("thresh", vol, RunOptions(tta_flips=True), registry=reg).cached


def test_denoising_returns_a_derived_volume(make_plugin: Callable[..., Path], tmp_path: Path) -> None:
    make_plugin(
        "denoise",
        Identity3d(),
        task="denoising",
        normalization='kind = "ct_window"\nwindow = [-100, 300]',
        output="num_channels = 1\nvalue_range = [0.0, 1.0]",
    )
    reg = registry_for(tmp_path / "plugins")
    src = np.random.default_rng(5).uniform(-500, 700, (6, 9, 10)).astype(np.float32)
    vol = Volume(src.copy(), ball_volume().geometry, VolumeMeta(modality="CT", series_description="abd"))
    result = run_plugin("denoise", vol, registry=reg)
    out = result.volume
    assert out is not None and out is not vol and out.geometry == vol.geometry
    np.testing.assert_allclose(out.array, np.clip(src, -100, 300), atol=1e-3)
    np.testing.assert_array_equal(vol.array, src)  # the original is never overwritten
    assert out.meta.series_description == "abd (Denoise)"


def test_denoising_flip_tta_averages_and_spreads_in_image_units(
    make_plugin: Callable[..., Path], tmp_path: Path
) -> None:
    """A slice-wise 'denoiser' that shifts the image one row down: mirrored up-down it shifts one row
    *up*, so flip TTA over y and x (passes: as is, y, x) returns (2 * down + up) / 3, and its spread is
    |down - up| * sqrt(2) / 3 in HU - the z-score's SD undone, as the denoised values are."""

    class ShiftDown(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.roll(x, 1, dims=2)

    folder = make_plugin("shift-dn", ShiftDown(), task="denoising", dims=2,
                         normalization='kind = "zscore"', output="num_channels = 1")
    with (folder / "plugin.toml").open("a") as f:
        f.write('\n[options]\ntta_axes = ["y", "x"]\n')
    src = np.random.default_rng(7).normal(40.0, 300.0, (4, 9, 10)).astype(np.float32)
    vol = Volume(src.copy(), ball_volume().geometry, VolumeMeta(modality="CT"))
    result = run_plugin("shift-dn", vol, RunOptions(tta_flips=True, use_cache=False),
                        registry=registry_for(tmp_path / "plugins"))
    down, up = np.roll(src, 1, axis=1), np.roll(src, -1, axis=1)
    assert result.volume is not None
    np.testing.assert_allclose(result.volume.array, (2 * down + up) / 3, atol=0.05)
    (spread,) = result.heatmaps
    assert spread.kind == "uncertainty" and spread.geometry == vol.geometry
    np.testing.assert_allclose(spread.array, np.abs(down - up) * np.sqrt(2) / 3, atol=0.05)


@pytest.mark.parametrize("dims", [2, 3])
def test_classification(make_plugin: Callable[..., Path], tmp_path: Path, dims: int) -> None:
    make_plugin(
        "cls",
        TinyClassifier(),
        task="classification",
        dims=dims,
        input_extra="spatial_shape = [6, 6]" if dims == 2 else "spatial_shape = [4, 6, 6]",
        output='num_channels = 2\nactivation = "softmax"\nclass_names = ["normal", "bright"]',
    )
    reg = registry_for(tmp_path / "plugins")
    array = np.zeros((4, 10, 10), np.float32)
    array[2:] = 1.0  # the last two slices are bright
    vol = Volume(array, meta=VolumeMeta(modality="CT"))
    result = run_plugin("cls", vol, registry=reg)
    assert set(result.probabilities) == {"normal", "bright"}
    assert result.probabilities["normal"] + result.probabilities["bright"] == pytest.approx(1.0)
    if dims == 2:
        assert result.slice_probabilities is not None
        per_slice = result.slice_probabilities[:, 1]
        assert per_slice[:2].max() < 0.05 and per_slice[2:].min() > 0.95
        assert result.probabilities["bright"] == pytest.approx(per_slice.mean())
    else:
        assert result.slice_probabilities is None
        assert result.probabilities["bright"] == pytest.approx(0.5, abs=0.01)


def test_detector_reports_the_most_suspicious_slice_for_the_study(
    make_plugin: Callable[..., Path], tmp_path: Path
) -> None:
    """``study_aggregation = "max"``: one bright slice in ten makes the study positive."""
    make_plugin("det", TinyClassifier(), **SLICE_DETECTOR)
    array = np.zeros((10, 10, 10), np.float32)
    array[7] = 1.0
    volume = Volume(array, meta=VolumeMeta(modality="CT"))
    result = run_plugin("det", volume, registry=registry_for(tmp_path / "plugins"))
    assert result.slice_probabilities is not None
    per_slice = result.slice_probabilities[:, 1]
    assert int(np.argmax(per_slice)) == 7
    assert result.probabilities["bright"] == pytest.approx(per_slice.max()) and per_slice.max() > 0.95
    assert per_slice.mean() < 0.2  # the mean would have called this study normal


def test_2p5d_classifier_study_score_leaves_out_padded_end_slices(
    make_plugin: Callable[..., Path], tmp_path: Path
) -> None:
    """A 2.5D slice classifier's first and last slices (neighbours padded) are scored and shown, but the
    study score is the maximum over the slices it saw with real neighbours."""

    class Centre(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            centre = x[:, 1].mean(dim=(1, 2))[:, None]
            return torch.cat([torch.zeros_like(centre), 10 * (centre - 0.5)], dim=1)

    detector = {**SLICE_DETECTOR, "input_extra": "spatial_shape = [6, 6]\nslice_context = 1"}
    folder = make_plugin("det25", Centre(), example=torch.rand(1, 3, 6, 6), **detector)
    toml = folder / "plugin.toml"
    toml.write_text(
        toml.read_text().replace("num_channels = 1\nspatial_shape", "num_channels = 3\nspatial_shape")
    )
    array = np.zeros((10, 10, 10), np.float32)
    array[0], array[6] = 1.0, 0.6  # a bright first slice and a fainter interior one
    volume = Volume(array, meta=VolumeMeta(modality="CT"))
    result = run_plugin("det25", volume, registry=registry_for(tmp_path / "plugins"))
    assert result.slice_probabilities is not None and result.padded_end_slices == 1
    per_slice = result.slice_probabilities[:, 1]
    assert int(np.argmax(per_slice)) == 0 and per_slice[0] > 0.99  # still scored and shown
    assert result.probabilities["bright"] == pytest.approx(per_slice[6]) and per_slice[6] < 0.9
    short = run_plugin(
        "det25",
        Volume(array[:2].copy(), meta=VolumeMeta(modality="CT")),
        registry=registry_for(tmp_path / "plugins"),
    )
    assert short.padded_end_slices == 0 and short.probabilities["bright"] > 0.99  # no interior: all count


def chest_with_two_bright_spots() -> Volume:
    """A box-shaped chest (fat, -100 HU) with two lungs (-850 HU) 48 mm apart: a nodule (100 HU) in the
    left lung on slice 6 and a brighter spot (400 HU, a rib) in the chest wall, outside the lung field
    (a 20 mm closing of the lungs), on slice 3."""
    hu = np.full((10, 64, 64), -1000.0, np.float32)
    hu[:, 2:62, 1:63] = -100.0
    hu[:, 16:50, 4:20] = hu[:, 16:50, 44:60] = -850.0
    hu[6, 30:34, 10:14] = 100.0
    hu[3, 5:9, 30:34] = 400.0
    return Volume(hu, Geometry((2.0, 2.0, 5.0), (0.0, 0.0, 0.0)), VolumeMeta(modality="CT"))


def test_organ_channel_bounds_the_slice_score(make_plugin: Callable[..., Path], tmp_path: Path) -> None:
    """A slice classifier with ``input.organ_channel`` gets the lung field as its last channel: its score,
    the brightest pixel inside it, finds the nodule, where the whole-slice maximum finds the rib."""

    class BoundedMax(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            image, organ = x[:, :1], x[:, 1:]
            floor = torch.amin(image, dim=(2, 3), keepdim=True)
            peak = torch.amax(torch.where(organ > 0.5, image, floor), dim=(2, 3))
            return torch.cat([torch.zeros_like(peak), 40 * (peak - 0.7)], dim=1)

    folder = make_plugin(
        "lungcls",
        BoundedMax(),
        example=torch.rand(1, 2, 8, 8),
        task="classification",
        dims=2,
        input_extra="organ_channel = true",
        normalization='kind = "ct_window"\nwindow = [-1000, 400]',
        output='num_channels = 2\nactivation = "softmax"\nclass_names = ["normal", "bright"]\n'
        'study_aggregation = "max"\n\n[options]\norgan = { CT = "lungs" }',
    )
    toml = folder / "plugin.toml"
    toml.write_text(
        toml.read_text().replace("num_channels = 1\norgan_channel", "num_channels = 2\norgan_channel")
    )
    volume = chest_with_two_bright_spots()
    reg = registry_for(tmp_path / "plugins")
    steps: list[tuple[int, int]] = []
    bounded = run_plugin("lungcls", volume, registry=reg, progress=lambda d, t: steps.append((d, t)))
    assert bounded.slice_probabilities is not None
    per_slice = bounded.slice_probabilities[:, 1]
    assert int(np.argmax(per_slice)) == 6 and per_slice[6] > 0.9  # the nodule: (100 + 1000) / 1400 = 0.79
    assert per_slice[3] < 0.5  # the rib (1.0) is outside the lung field; inside it at most fat (0.64)
    assert bounded.probabilities["bright"] == pytest.approx(per_slice[6])
    fractions = [done / total for done, total in steps]  # the organ first, then the slices
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    # the same network with the mask all ones (no organ named for the modality) scores whole slices
    toml.write_text(toml.read_text().replace('organ = { CT = "lungs" }', 'organ = { MR = "brain" }')
                    .replace('modality = ["CT"]', 'modality = ["CT", "MR"]'))
    reg = registry_for(tmp_path / "plugins")
    whole = run_plugin("lungcls", volume, RunOptions(use_cache=False), registry=reg)
    assert whole.slice_probabilities is not None and int(np.argmax(whole.slice_probabilities[:, 1])) == 3
    # a series without lungs (the wrong body part): every slice scores its floor, and the user is told why
    toml.write_text(toml.read_text().replace('organ = { MR = "brain" }', 'organ = { CT = "lungs" }'))
    solid = volume.array.copy()
    solid[solid == -850.0] = -100.0
    no_lungs = run_plugin("lungcls", Volume(solid, volume.geometry, volume.meta),
                          registry=registry_for(tmp_path / "plugins"))
    assert no_lungs.slice_probabilities is not None and no_lungs.slice_probabilities[:, 1].max() < 0.01
    assert any("no lungs found in this series" in w for w in no_lungs.warnings), no_lungs.warnings


def test_2d_segmentation_runs_slice_by_slice(make_plugin: Callable[..., Path], tmp_path: Path) -> None:
    class Thresh2d(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([torch.zeros_like(x), 10 * (x - 0.5)], dim=1)

    make_plugin("seg2d", Thresh2d(), dims=2)
    reg = registry_for(tmp_path / "plugins")
    vol = ball_volume()
    result = run_plugin("seg2d", vol, RunOptions(batch_size=3), registry=reg)
    assert result.label_map is not None
    np.testing.assert_array_equal(result.label_map.array, (vol.array > 0.5).astype(np.uint8))


class FakeSession:
    def __init__(self, on_gpu: bool, fail_above: int) -> None:
        self.on_gpu, self.fail_above = on_gpu, fail_above
        self.device = "CUDA (fake)" if on_gpu else "CPU (fake)"

    def run(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) > self.fail_above:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return batch * 2


def test_out_of_memory_falls_back_to_cpu_then_smaller_batches() -> None:
    warnings: list[str] = []
    opened: list[str] = []

    def open_session(device: str) -> FakeSession:
        opened.append(device)
        return FakeSession(on_gpu=device != "cpu", fail_above=0 if device != "cpu" else 1)

    predictor = SafePredictor(open_session, "auto", warnings, "demo")  # type: ignore[arg-type]
    batch = np.arange(4, dtype=np.float32).reshape(4, 1)
    np.testing.assert_array_equal(predictor(batch), batch * 2)
    assert opened == ["auto", "cpu"]
    assert warnings == [
        "ran out of GPU memory; finished on the CPU (slower)",
        "ran out of memory; continued with 1 window(s) at a time",
    ]
    assert predictor.device == "CPU (fake)"


def test_out_of_memory_with_one_window_on_cpu_is_a_readable_error() -> None:
    predictor = SafePredictor(lambda d: FakeSession(False, 0), "cpu", [], "demo")  # type: ignore[arg-type,return-value]
    with pytest.raises(OutOfMemory, match="not enough memory to run plugin demo"):
        predictor(np.zeros((1, 1), np.float32))


def test_job_cancel_stops_within_one_window(make_plugin: Callable[..., Path], tmp_path: Path) -> None:
    make_plugin("seg", TinyThreshold3d(), input_extra="spatial_shape = [8, 8, 8]\nbatch_size = 1")
    reg = registry_for(tmp_path / "plugins")
    vol = Volume(np.zeros((40, 40, 40), np.float32), meta=VolumeMeta(modality="CT"))
    calls: list[int] = []
    session = reg.open_session("seg")
    real_run = session.run
    started = threading.Event()
    job: Job = Job(
        lambda progress, cancel: run_plugin("seg", vol, registry=reg, progress=progress, cancel=cancel)
    )

    def run(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        started.set()
        job.cancel()  # pressed while this window runs
        return real_run(batch)

    session.run = run  # type: ignore[method-assign]
    job.start()
    assert job.wait(30)
    assert job.state == "cancelled" and calls == [1]
    with pytest.raises(InferenceCancelled):
        job.result()


def test_job_reports_progress_and_result(make_plugin: Callable[..., Path], tmp_path: Path) -> None:
    make_plugin("seg", TinyThreshold3d(), input_extra="spatial_shape = [8, 8, 8]\nbatch_size = 4")
    reg = registry_for(tmp_path / "plugins")
    seen: list[tuple[int, int]] = []
    job: Job = Job(lambda p, c: run_plugin("seg", ball_volume(), registry=reg, progress=p, cancel=c))
    job.listeners.append(lambda d, t: seen.append((d, t)))
    result = job.start().result(30)
    assert result.label_map is not None and job.state == "finished"
    assert seen[-1][0] == seen[-1][1] and [d / t for d, t in seen] == sorted(d / t for d, t in seen)


def test_commands(make_plugin: Callable[..., Path], tmp_path: Path) -> None:
    make_plugin("thresh", TinyThreshold3d(), input_extra=PATCHED)
    make_plugin(
        "cls",
        TinyClassifier(),
        task="classification",
        output='num_channels = 2\nactivation = "softmax"\nclass_names = ["normal", "bright"]',
    )
    reg = registry_for(tmp_path / "plugins")
    rows = json.loads(plugins_list(json=True, registry=reg))
    assert [(r["id"], r["ok"], r["device"]) for r in rows] == [
        ("cls", True, "CPU (onnxruntime)"),
        ("thresh", True, "CPU (onnxruntime)"),
    ]
    assert "Not for clinical use" in plugins_show("thresh", registry=reg)
    vol = ball_volume()
    src = tmp_path / "ball.nrrd"
    image = vol.to_sitk()
    image.SetMetaData("0008|0060", "CT")
    sitk.WriteImage(image, str(src))
    out = tmp_path / "out" / "mask.nii.gz"
    text = run_infer("thresh", src, out, registry=reg)
    assert f"wrote {out}" in text and "lesion:" in text
    written = sitk.ReadImage(str(out))
    assert written.GetSpacing() == vol.geometry.spacing
    np.testing.assert_allclose(written.GetOrigin(), vol.geometry.origin)
    assert sitk.GetArrayFromImage(written).sum() > 0
    text = run_infer("cls", src, tmp_path / "cls.json", registry=reg)
    payload = json.loads((tmp_path / "cls.json").read_text())
    assert set(payload["probabilities"]) == {"normal", "bright"} and payload["note"] == "not for clinical use"
    with pytest.raises(InferenceError, match="no plugin called 'x'"):
        run_infer("x", src, out, registry=reg)


def test_slice_context_feeds_neighbouring_slices(make_plugin: Callable[..., Path], tmp_path: Path) -> None:
    """A 2.5D model (``slice_context = 1``) gets slices z-1, z, z+1 as channels, the ends repeated:
    a network returning channel 0 minus channel 2 outputs the through-slice difference."""

    class Difference(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, 0:1] - x[:, 2:3]

    folder = make_plugin(
        "ctx",
        Difference(),
        task="denoising",
        dims=2,
        example=torch.rand(1, 3, 8, 8),
        input_extra="slice_context = 1",
        output='type = "image"\nnum_channels = 1',
    )
    toml = folder / "plugin.toml"
    text = toml.read_text().replace("num_channels = 1\nslice_context", "num_channels = 3\nslice_context")
    toml.write_text(text)
    vol = Volume(
        np.arange(5, dtype=np.float32)[:, None, None] * np.ones((5, 8, 8), np.float32),
        ball_volume().geometry,
        VolumeMeta(modality="CT"),
    )
    out = run_plugin("ctx", vol, registry=registry_for(tmp_path / "plugins")).volume
    assert out is not None
    np.testing.assert_allclose(out.array[:, 4, 4], [-1, -2, -2, -2, -1], atol=1e-5)
    from medlens.inference.manifest import InputSpec
    from medlens.inference.runner import model_channels

    spec = InputSpec(modality=["CT"], dims=2, num_channels=5, slice_context=2)
    channels = model_channels(vol.array, spec)  # windows over one padded copy, not five copies
    assert channels.shape == (5, *vol.array.shape) and channels.base is not None
    np.testing.assert_array_equal(channels[:, 0, 0, 0], [0, 0, 0, 1, 2])
    with pytest.raises(ValueError, match="num_channels = 3"):
        InputSpec(modality=["CT"], dims=2, num_channels=1, slice_context=1)


def test_an_organ_is_computed_once_per_series(monkeypatch: pytest.MonkeyPatch) -> None:
    """A classifier run, its saliency and the segmenter on one series share its organ mask: the lung
    field is computed once, and a second request gets the same mask and the same notes."""
    from types import SimpleNamespace

    from medlens.inference import organs
    from medlens.inference.manifest import load_manifest
    from medlens.inference.runner import organ_on_model_grid

    calls: list[str] = []
    real = organs.organ_mask
    monkeypatch.setattr(organs, "organ_mask", lambda *a: calls.append(a[2]) or real(*a))
    volume = chest_with_two_bright_spots()
    grid = SimpleNamespace(model=volume.geometry)
    m = load_manifest(Path(__file__).resolve().parents[2] / "plugins" / "lesion_seg")  # organ: lungs for CT
    first: list[str] = []
    mask = organ_on_model_grid(m, volume, volume.array, grid, first)
    solid = Volume(np.full_like(volume.array, -100.0), volume.geometry, volume.meta)
    notes_a: list[str] = []
    none = organ_on_model_grid(m, solid, solid.array, grid, notes_a)
    again: list[str] = []
    assert organ_on_model_grid(m, volume, volume.array, grid, again) is mask and again == first
    notes_b: list[str] = []
    assert organ_on_model_grid(m, solid, solid.array, grid, notes_b) is none and notes_b == notes_a
    assert calls == ["lungs", "lungs"] and mask is not None and mask.any()
