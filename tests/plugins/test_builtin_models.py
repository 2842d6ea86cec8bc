"""The built-in models still do what their model cards say (a fast re-run on a subset of the real data).

Each test runs the shipped ONNX weights through the MedLens engine (``medlens.inference.run_plugin``)
with the plugin's own ``plugin.toml`` preprocessing, on the subset its ``evaluate.py`` recorded in
``metrics.json`` (``fast_subset``), and checks the figures stay within a stated tolerance. Skipped, with
the reason, when the pyradiomics sample study has not been built (``make sample``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from medlens.inference import load_manifest
from medlens.training.export import sha256_of

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
BUILTIN = ("denoise", "lesion_seg", "lesion_cls")


def _evaluate_module(plugin: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"medlens_eval_{plugin}", PLUGINS / plugin / "evaluate.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _recorded(plugin: str) -> dict:
    return json.loads((PLUGINS / plugin / "metrics.json").read_text())


@pytest.fixture(scope="module")
def real_cases() -> None:
    from medlens.training.sources import SourceMissingError, sample_paths

    try:
        sample_paths()
    except SourceMissingError as exc:
        pytest.skip(f"real test cases unavailable: {exc}")
    import torch

    torch.set_num_threads(2)


@pytest.mark.parametrize("plugin", BUILTIN)
def test_manifest_weights_and_card(plugin: str) -> None:
    folder = PLUGINS / plugin
    m = load_manifest(folder)
    assert sha256_of(m.weights_path) == m.weights.sha256
    for spec in m.extra_weights.values():
        assert sha256_of(m.path(spec.file)) == spec.sha256
    assert m.weights_path.stat().st_size <= 20 * 1024 * 1024
    card = m.model_card_path.read_text(encoding="utf-8")
    assert "Not for clinical use" in card
    assert "<!-- metrics:begin -->" in card
    for script in ("train.py", "evaluate.py"):
        assert (folder / script).is_file()


@pytest.mark.parametrize("plugin", ["lesion_seg", "lesion_cls"])  # the denoiser needs no gradients
def test_torchscript_twin_computes_what_the_onnx_model_does(plugin: str) -> None:
    """Saliency and fine-tuning run on the twin, inference on ONNX: they must be one network."""
    import onnxruntime as ort
    import torch

    from medlens.inference.saliency.twin import load_twin, twin_spec

    m = load_manifest(PLUGINS / plugin)
    assert twin_spec(m) is not None
    twin = load_twin(m)
    session = ort.InferenceSession(str(m.weights_path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((2, m.input.num_channels, 96, 128), dtype=np.float32)
    want = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        got = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_denoiser_fast_subset(real_cases: None) -> None:
    """Model PSNR within 0.3 dB / SSIM within 0.01 of the card; still ahead of tuned NLM on the subset."""
    ev = _evaluate_module("denoise")
    rec = _recorded("denoise")["fast_subset"]
    level = float(rec["level"])
    tuned = {level: _recorded("denoise")["tuned_classical"]["CT"][str(level)]}
    got = ev.evaluate(rec["case"], rec["slices"], (level,), tuned)[str(level)]
    assert got["model"]["psnr"] == pytest.approx(rec["model"]["psnr"], abs=0.3)
    assert got["model"]["ssim"] == pytest.approx(rec["model"]["ssim"], abs=0.01)
    assert got["model"]["psnr"] > got["noisy"]["psnr"] + 3.0
    margin = min(1.0, rec["model"]["psnr"] - rec["nlm"]["psnr"])
    assert got["model"]["psnr"] >= got["nlm"]["psnr"] + margin - 0.3


@pytest.mark.slow
def test_segmentation_fast_subset(real_cases: None) -> None:
    """Dice of the shipped U-Net on the recorded slices within 0.05 of the card."""
    ev = _evaluate_module("lesion_seg")
    for case, rec in _recorded("lesion_seg")["fast_subset"].items():
        got, _ = ev.run_model(case, None, tuple(rec["z_range"]))
        assert got["dice"] == pytest.approx(rec["dice"], abs=0.05), case


@pytest.mark.slow
def test_classifier_fast_subset(real_cases: None) -> None:
    """Per-slice scores within 0.03 of the card, and the score peaks on a real nodule slice of lung1."""
    ev = _evaluate_module("lesion_cls")
    from medlens.training.sources import load_case

    for case, rec in _recorded("lesion_cls")["fast_subset"].items():
        z0, z1 = rec["z_range"]
        scores = ev.slice_scores(case, None, (z0, z1))
        np.testing.assert_allclose(scores, rec["scores"], atol=0.03)
        label = load_case(case).label
        assert label is not None
        lesion_slices = set(np.flatnonzero(label.any(axis=(1, 2))))
        if int(np.argmax(rec["scores"])) + z0 in lesion_slices:
            assert int(np.argmax(scores)) + z0 in lesion_slices


@pytest.mark.slow
@pytest.mark.parametrize("method", ["evidence", "gradcam"])
def test_classifier_saliency_lights_the_sample_nodule(real_cases: None, method: str) -> None:
    """The viewer's "model's evidence map" and GradCAM (the members' first decoder blocks, ``dec.0``) of
    the shipped classifier have their maximum inside the real nodule on the sample's three nodule slices,
    and pass their sanity check (card: 3/3)."""
    from medlens.inference.saliency import compute_saliency
    from medlens.training.cases import case_volume

    volume, truth = case_volume("lung1")
    zs = [int(z) for z in np.flatnonzero(truth.any(axis=(1, 2)))]
    result = compute_saliency("medlens.lesion-cls", volume, method, slices=zs)
    assert not result.warnings  # no empty GradCAM map
    heat = np.asarray(result.heatmap.array)
    assert all(truth[z].flat[int(np.argmax(heat[z]))] for z in zs)
    assert result.sanity is not None and result.sanity.passed, result.sanity
    assert "compared inside the organ" in result.sanity.note  # outside it both maps are flat by design


@pytest.mark.slow
def test_classifier_study_score_comes_from_the_sample_nodule(real_cases: None) -> None:
    """The demo story on the sample chest CT: the shipped 2.5D classifier's study score is its score on
    a nodule slice. Its first slice (lung base, neighbours padded) scores higher but is left out of the
    study score, as lesion_cls/end_slices.py decided on synthetic volumes."""
    from medlens.inference import run_plugin
    from medlens.training.cases import case_volume

    volume, truth = case_volume("lung1")
    result = run_plugin("medlens.lesion-cls", volume)
    assert result.slice_probabilities is not None and result.padded_end_slices == 1
    scores = result.slice_probabilities[:, 0]
    judged = int(np.argmax(scores[1:-1])) + 1
    assert truth[judged].any()
    assert result.probabilities["lesion"] == pytest.approx(scores[judged])
