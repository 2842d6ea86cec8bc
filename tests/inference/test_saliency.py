"""Saliency on a tiny classifier trained at test time (class = "a bright blob is present")."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from saliency_helpers import BlobNet, blob_volume, train_blob_net, write_blob_plugin

from medlens.inference.discovery import PluginRegistry
from medlens.inference.errors import InferenceCancelled, InferenceError
from medlens.inference.saliency import compute_saliency

torch = pytest.importorskip("torch")
pytest.importorskip("captum.attr")


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> PluginRegistry:
    root = tmp_path_factory.mktemp("saliency-plugins")
    net = train_blob_net()
    write_blob_plugin(root, net, "test.blob-cls")
    write_blob_plugin(root, net, "test.blob-onnx", twin=False)
    write_blob_plugin(root, net, "test.blob-logit", layer="logit_map")  # GradCAM on the 1-channel logits
    blur = 'saliency_ig_baseline = { kind = "blur", sigma_px = 3.0 }'
    write_blob_plugin(root, net, "test.blob-blur", extra=blur)
    torch.manual_seed(123)
    write_blob_plugin(root, BlobNet().eval(), "test.blob-untrained")
    return PluginRegistry.discover([root], builtin=False, user=False, entry_points=False, adapters=False)


def _peak(a: np.ndarray) -> tuple[int, int]:
    return tuple(int(v) for v in np.unravel_index(np.argmax(np.abs(a)), a.shape))  # type: ignore[return-value]


@pytest.mark.parametrize("method", ["integrated_gradients", "gradcam", "occlusion", "evidence"])
def test_map_peaks_inside_the_blob(registry: PluginRegistry, method: str) -> None:
    volume, (cy, cx) = blob_volume()
    result = compute_saliency("test.blob-cls", volume, method, slices=[1], registry=registry, sanity=False)
    heat = result.heatmap
    assert heat.array.dtype == np.float32 and heat.array.shape == volume.array.shape
    assert heat.geometry == volume.geometry
    y, x = _peak(heat.array[1])
    assert (y - cy) ** 2 + (x - cx) ** 2 <= 3**2 + 1, (method, (y, x), (cy, cx))
    assert not heat.array[0].any() and not heat.array[2].any()  # only the asked slice
    assert result.target == "blob"


def test_an_empty_gradcam_map_is_said_not_shown_blank(registry: PluginRegistry) -> None:
    """GradCAM on a one-channel logit layer is ReLU(logits): all zeros on a slice whose every logit is
    below zero (no blob). The user is told so rather than left with a blank overlay."""
    volume, (cy, cx) = blob_volume()
    result = compute_saliency("test.blob-logit", volume, "gradcam", registry=registry, sanity=False)
    heat = result.heatmap.array
    assert not heat[0].any() and not heat[2].any()  # the blob-free slices: empty
    y, x = _peak(heat[1])
    assert heat[1].max() > 0 and (y - cy) ** 2 + (x - cx) ** 2 <= 3**2 + 1  # the blob slice: at the blob
    assert any("GradCAM is empty on 2 of 3 slices" in w and "'logit_map'" in w for w in result.warnings)
    assert any("evidence map" in w for w in result.warnings)
    many = compute_saliency("test.blob-cls", volume, "gradcam", registry=registry, sanity=False)
    blank = [not many.heatmap.array[z].any() for z in range(3)]  # 16 channels: said exactly when blank
    assert any("GradCAM is empty" in w for w in many.warnings) == any(blank)


@pytest.mark.parametrize("method", ["integrated_gradients", "gradcam", "evidence"])
def test_sanity_passes_for_a_trained_model(registry: PluginRegistry, method: str) -> None:
    volume, _ = blob_volume()
    report = compute_saliency("test.blob-cls", volume, method, slices=[1], registry=registry).sanity
    assert report is not None
    assert report.similarity_to_random_model is not None and report.similarity_to_random_model < 0.5
    assert report.deletion_auc < report.random_deletion_auc
    assert report.passed, report.note


def test_sanity_flags_an_untrained_model(registry: PluginRegistry) -> None:
    """Deleting the 'salient' pixels of a model that learned nothing is no faster than random."""
    volume, _ = blob_volume()
    report = compute_saliency(
        "test.blob-untrained", volume, "integrated_gradients", slices=[1], registry=registry
    ).sanity
    assert report is not None and not report.passed
    assert report.deletion_auc > 0.9 * report.random_deletion_auc


def test_onnx_plugin_without_twin(registry: PluginRegistry) -> None:
    volume, (cy, cx) = blob_volume()
    with pytest.raises(InferenceError) as err:
        compute_saliency("test.blob-onnx", volume, "integrated_gradients", registry=registry)
    assert str(err.value) == (
        "plugin test.blob-onnx has no TorchScript twin; saliency needs a differentiable graph"
        " (Occlusion runs without one)"
    )
    result = compute_saliency("test.blob-onnx", volume, "occlusion", slices=[1], registry=registry)
    y, x = _peak(result.heatmap.array[1])
    assert (y - cy) ** 2 + (x - cx) ** 2 <= 10
    assert result.sanity is not None and result.sanity.deletion_auc < result.sanity.random_deletion_auc


def test_evidence_map_needs_a_classifier_that_declares_it(registry: PluginRegistry) -> None:
    """The model's own evidence map is offered only where the manifest names the twin's method."""
    from medlens.app.saliency_panel import method_availability

    volume, _ = blob_volume()
    builtin = PluginRegistry.discover(user=False, entry_points=False, adapters=False)
    with pytest.raises(InferenceError, match="declares no saliency_evidence"):
        compute_saliency("medlens.lesion-seg", volume, "evidence", registry=builtin)
    assert method_availability(builtin.manifest("medlens.lesion-seg"))["evidence"] == (
        "The plugin declares no saliency_evidence method; the model's evidence map needs one"
    )
    assert method_availability(registry.manifest("test.blob-cls"))["evidence"] is None
    onnx_only = method_availability(registry.manifest("test.blob-onnx"))
    assert onnx_only["occlusion"] is None and "no TorchScript twin" in str(onnx_only["gradcam"])
    with pytest.raises(InferenceError, match="no TorchScript twin"):
        compute_saliency("test.blob-onnx", volume, "evidence", registry=registry)


def test_progress_and_cancel(registry: PluginRegistry) -> None:
    volume, _ = blob_volume()
    seen: list[tuple[int, int]] = []
    compute_saliency(
        "test.blob-cls", volume, "gradcam", registry=registry, progress=lambda d, t: seen.append((d, t))
    )
    assert seen and seen[-1][0] == seen[-1][1]
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(InferenceCancelled):
        compute_saliency("test.blob-cls", volume, "gradcam", registry=registry, cancel=cancel)


def test_scripted_gradcam_equals_captum_on_the_eager_module() -> None:
    from captum.attr import LayerGradCam

    from medlens.inference.saliency.gradcam import grad_cam

    torch.manual_seed(0)
    net = BlobNet().eval()
    scripted = torch.jit.script(net)
    x = torch.rand(2, 1, 16, 16)
    ours, _ = grad_cam(scripted, "features.3", x, lambda out: out[:, 0])
    ref = LayerGradCam(lambda t: net(t)[:, 0], net.features[3]).attribute(x, relu_attributions=True)
    ref = torch.nn.functional.interpolate(ref, size=(16, 16), mode="bilinear", align_corners=False)[:, 0]
    assert torch.allclose(ours, ref, atol=1e-5)


class _SmoothThreshold(torch.nn.Module):
    """Segmenter: a 3x3 mean filter then a steep threshold at 0.5 (foreground = bright blob)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1))
        with torch.no_grad():
            self.features[0].weight.fill_(20.0 / 9)
            self.features[0].bias.fill_(-10.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@pytest.mark.parametrize("method", ["integrated_gradients", "occlusion"])
def test_segmentation_region_score(tmp_path: Path, method: str) -> None:
    from infer_helpers import write_plugin

    output = 'num_channels = 1\nactivation = "sigmoid"\nlabels = [{ value = 1, name = "blob" }]\n'
    folder = write_plugin(
        tmp_path,
        "test.seg",
        torch.jit.script(_SmoothThreshold()),
        runtime="torchscript",
        dims=2,
        output=output,
        example=torch.rand(1, 1, 32, 32),
    )
    reg = PluginRegistry.discover([folder], builtin=False, user=False, entry_points=False, adapters=False)
    volume, (cy, cx) = blob_volume()
    result = compute_saliency("test.seg", volume, method, registry=reg)
    assert result.target == "blob"
    assert any("not predicted" in w for w in result.warnings)  # the blob-free slices
    y, x = _peak(result.heatmap.array[1])
    assert (y - cy) ** 2 + (x - cx) ** 2 <= 3**2 + 1
    assert result.sanity is not None and result.sanity.deletion_auc < result.sanity.random_deletion_auc


def test_an_organ_channel_is_given_never_attributed_or_removed() -> None:
    """The organ mask of a plugin with ``input.organ_channel`` is not image: Integrated Gradients keeps
    it at its value along the path and the deletion check never removes it.

    The model sums the image inside the mask (mask > 0.5). Walking the mask from 0 to 1 with the image,
    as a scalar baseline would, lets the image count only on the second half of the path and halves the
    attribution; held fixed, IG gives image x mask (completeness, up to the 32-step sum)."""
    from medlens.inference.saliency.methods import Target, attribute, make_reduce
    from medlens.inference.saliency.sanity import deletion_curve

    rng = np.random.default_rng(0)
    image = rng.uniform(0.2, 1.0, (8, 8)).astype(np.float32)
    mask = np.zeros((8, 8), np.float32)
    mask[2:6, 1:5] = 1.0
    x = torch.from_numpy(np.stack([image, mask])[None])

    def inside(t: torch.Tensor) -> torch.Tensor:
        return (t[:, :1] * (t[:, 1:] > 0.5)).sum(dim=(1, 2, 3))[:, None]

    module = torch.nn.Module()
    module.forward = inside  # type: ignore[method-assign]
    reduce = make_reduce(Target("classification", 0, "sigmoid"))
    fixed = attribute("integrated_gradients", x, inside, reduce, module=module, fixed_channels=1)
    np.testing.assert_allclose(fixed, image * mask, rtol=0.04, atol=1e-6)  # 32-step trapezoid
    walked = attribute("integrated_gradients", x, inside, reduce, module=module)
    assert abs(walked.sum() - (image * mask).sum() / 2) < 0.1 * (image * mask).sum()

    seen: list[np.ndarray] = []

    def score(batch: np.ndarray) -> np.ndarray:
        seen.extend(batch)
        return inside(torch.from_numpy(batch))[:, 0].numpy()

    curve = deletion_curve(x.numpy(), np.arange(64), score, baseline=0.0, steps=4, fixed_channels=1)
    assert all(np.array_equal(v[1], mask) for v in seen) and not seen[-1][0].any()
    assert curve[0] == pytest.approx((image * mask).sum(), rel=1e-5) and curve[-1] == 0.0


def test_the_randomisation_check_compares_maps_inside_the_organ() -> None:
    """Two unrelated maps that are both flat outside the organ (as an organ-bounded model's are) look
    alike over the whole slice; inside the organ, where the model may look, they do not."""
    from medlens.inference.saliency.sanity import randomisation_similarities

    rng = np.random.default_rng(1)
    organ = np.zeros((64, 64), bool)
    organ[20:44, 8:56] = True
    trained, randomised = (np.where(organ, rng.random((64, 64)) + 1.0, 0.0) for _ in range(2))
    whole, _ = randomisation_similarities(trained, randomised, None)
    inside, ssim = randomisation_similarities(trained, randomised, organ)
    assert whole > 0.5 and abs(inside) < 0.1 and ssim is not None and ssim < 0.2


def test_integrated_gradients_takes_an_image_baseline() -> None:
    """A tensor baseline (a blurred copy of the slice, say) is integrated from as given: IG's map then
    sums to f(x) - f(baseline) (completeness), and a baseline equal to the input explains nothing."""
    from medlens.inference.saliency.methods import Target, attribute, make_reduce

    x = torch.from_numpy(np.random.default_rng(2).uniform(0, 1, (1, 1, 8, 8)).astype(np.float32))

    def squares(t: torch.Tensor) -> torch.Tensor:
        return (t**2).sum(dim=(1, 2, 3))[:, None]

    module = torch.nn.Module()
    module.forward = squares  # type: ignore[method-assign]
    reduce = make_reduce(Target("classification", 0, "sigmoid"))
    half = x * 0.5
    amap = attribute("integrated_gradients", x, squares, reduce, module=module, baseline=half, n_steps=64)
    want = float(squares(x) - squares(half))
    assert amap.sum() == pytest.approx(want, rel=0.03)
    same = attribute("integrated_gradients", x, squares, reduce, module=module, baseline=x.clone())
    assert np.abs(same).max() == 0.0


def test_a_plugin_can_have_integrated_gradients_start_from_a_blurred_copy(registry: PluginRegistry) -> None:
    """``saliency_ig_baseline = { kind = "blur", sigma_px = 3 }``: the engine integrates from the slice
    blurred by 3 px, so the map sums to logit(x) - logit(blurred x) (completeness), not to
    logit(x) - logit(black) as the default does; the map still points at the blob and says how it
    was made."""
    from medlens.inference.saliency.methods import blurred_copy
    from medlens.inference.saliency.twin import load_twin

    volume, (cy, cx) = blob_volume()
    net = load_twin(registry.manifest("test.blob-blur"))
    x = volume.array[1][None, None].astype(np.float32)
    with torch.no_grad():
        logit = float(net(torch.from_numpy(x))[0, 0])
        from_blur = logit - float(net(torch.from_numpy(blurred_copy(x, 3.0, 1)))[0, 0])
        from_black = logit - float(net(torch.full_like(torch.from_numpy(x), float(x.min())))[0, 0])
    assert abs(from_blur - from_black) > 0.2 * abs(from_black)  # the two baselines are told apart

    kw = {"slices": [1], "registry": registry, "sanity": False, "n_steps": 64}
    blurred = compute_saliency("test.blob-blur", volume, "integrated_gradients", **kw)
    black = compute_saliency("test.blob-cls", volume, "integrated_gradients", **kw)
    assert float(blurred.heatmap.array[1].sum()) == pytest.approx(from_blur, rel=0.05)
    assert float(black.heatmap.array[1].sum()) == pytest.approx(from_black, rel=0.05)
    y, x_ = _peak(blurred.heatmap.array[1])
    assert (y - cy) ** 2 + (x_ - cx) ** 2 <= 3**2 + 1
    assert "blurred copy (σ 3 px)" in blurred.heatmap.name and "blurred" not in black.heatmap.name
    checked = compute_saliency("test.blob-blur", volume, "integrated_gradients", slices=[1],
                               registry=registry)
    assert checked.sanity is not None and checked.sanity.passed
