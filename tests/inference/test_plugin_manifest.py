"""Manifest validation: every problem reported, each in words a plugin author can act on."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from medlens.inference.errors import ManifestError
from medlens.inference.manifest import load_manifest, parse_manifest

SHA = "ab" * 32


def valid(folder: Path) -> dict[str, Any]:
    (folder / "model.onnx").write_bytes(b"x")
    (folder / "card.md").write_text("# card\nnot for clinical use")
    return {
        "id": "acme.spleen",
        "name": "Spleen",
        "version": "1.0",
        "task": "segmentation",
        "runtime": "onnx",
        "model_card": "card.md",
        "weights": {"file": "model.onnx", "sha256": SHA},
        "input": {
            "modality": ["CT"],
            "dims": 3,
            "spacing": [1.5, 1.5, 2.0],
            "orientation": "RAS",
            "spatial_shape": [96, 96, 96],
            "normalization": {"kind": "ct_window", "window": [-57, 164]},
        },
        "output": {
            "num_channels": 2,
            "activation": "softmax",
            "labels": [{"value": 1, "name": "spleen", "color": [200, 80, 80]}],
        },
    }


def problems(data: dict[str, Any], folder: Path) -> str:
    with pytest.raises(ManifestError) as info:
        parse_manifest(data, folder, "plugins/foo/plugin.toml")
    return str(info.value)


def test_valid_manifest_parses(tmp_path: Path) -> None:
    m = parse_manifest(valid(tmp_path), tmp_path)
    assert m.gradcam_layers == ()
    one = parse_manifest({**valid(tmp_path), "saliency_target_layer": "dec.2"}, tmp_path)
    both = parse_manifest({**valid(tmp_path), "saliency_target_layer": ["a.dec.2", "b.dec.2"]}, tmp_path)
    assert one.gradcam_layers == ("dec.2",) and both.gradcam_layers == ("a.dec.2", "b.dec.2")
    assert m.input.spacing == (1.5, 1.5, 2.0)
    assert m.input.normalization.window == (-57.0, 164.0)
    assert m.weights_path == tmp_path / "model.onnx"
    assert m.label_table() == [(1, "spleen", (200, 80, 80))]


@pytest.mark.parametrize(
    "key", ["id", "name", "version", "task", "runtime", "weights", "input", "output", "model_card"]
)
def test_each_missing_field_is_named(tmp_path: Path, key: str) -> None:
    data = valid(tmp_path)
    del data[key]
    assert problems(data, tmp_path) == f"plugins/foo/plugin.toml: {key}: required field is missing"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("task",), "detection", "task: must be one of classification, segmentation, denoising"),
        (("runtime",), "tensorflow", "runtime: must be one of onnx, torchscript"),
        (("input", "spacing"), [1, 0, 1], "input.spacing: expected 3 positive numbers"),
        (("input", "spacing"), "1mm", "input.spacing: expected 3 positive numbers"),
        (("input", "dims"), 4, "input.dims: must be one of 2, 3"),
        (("input", "orientation"), "XYZ", "input.orientation: expected a 3-letter DICOM orientation"),
        (("input", "spatial_shape"), [96, -1, 96], "input.spatial_shape: expected 2 or 3 positive integers"),
        (("input", "modality"), [], "input.modality: expected a list of DICOM modality codes"),
        (
            ("input", "normalization", "kind"),
            "minmax",
            "kind: must be one of ct_window, zscore, percentile, none",
        ),
        (("weights", "sha256"), "1234", "weights.sha256: expected 64 hexadecimal digits"),
        (
            ("output", "labels"),
            [{"value": 1, "name": "x", "color": [0, 0, 300]}],
            "color: expected 3 integers",
        ),
        (("output", "activation"), "relu", "output.activation: must be one of softmax, sigmoid, none"),
        (("input", "colour"), 3, "input.colour: unknown field (a typo?)"),
        (("id",), "Has Spaces", "id: expected lower-case letters"),
        (("saliency_target_layer",), [], "saliency_target_layer: expected a layer path or a list"),
    ],
)
def test_wrong_values_give_readable_messages(
    tmp_path: Path, path: tuple[str, ...], value: Any, expected: str
) -> None:
    data = valid(tmp_path)
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    message = problems(data, tmp_path)
    assert message.startswith("plugins/foo/plugin.toml: ")
    assert expected in message


def test_every_problem_is_reported_in_one_message(tmp_path: Path) -> None:
    data = valid(tmp_path)
    data["task"] = "detection"
    data["input"]["spacing"] = [1, 2]
    del data["version"]
    message = problems(data, tmp_path)
    assert "task: must be one of classification, segmentation, denoising" in message
    assert "input.spacing: expected 3 positive numbers" in message
    assert "version: required field is missing" in message
    assert message.count(";") == 2


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["input"]["normalization"].pop("window"),
            "input.normalization.window: required for kind",
        ),
        (
            lambda d: d["input"].update(spatial_shape=[64, 64]),
            "input.spatial_shape: a 3D model needs 3 sizes",
        ),
        (lambda d: d["output"].update(labels=[]), "output.labels: a segmentation plugin needs a label table"),
        (lambda d: d["output"].update(num_channels=4), "output.labels: 4 output channels with softmax"),
        (lambda d: d.update(model_card="missing.md"), "model_card: missing.md not found"),
        (lambda d: d["weights"].update(file="gone.onnx"), "weights.file: gone.onnx not found"),
        (
            lambda d: d.update(task="classification", output={"num_channels": 3, "class_names": ["a", "b"]}),
            "output.class_names: classification needs one name per output channel (3), got 2",
        ),
        (
            lambda d: d.update(saliency_ig_baseline={"kind": "blur"}),
            "saliency_ig_baseline: a blurred baseline needs sigma_px",
        ),
        (
            lambda d: d.update(saliency_ig_baseline={"kind": "darkest", "sigma_px": 4.0}),
            "saliency_ig_baseline: a blurred baseline needs sigma_px (and only it)",
        ),
    ],
)
def test_cross_field_rules(tmp_path: Path, change: Any, expected: str) -> None:
    data = copy.deepcopy(valid(tmp_path))
    change(data)
    assert expected in problems(data, tmp_path)


def organ_classifier(folder: Path) -> dict[str, Any]:
    """A 2.5D slice classifier that takes the organ mask as its last channel."""
    data = valid(folder)
    data["task"] = "classification"
    data["input"].update(dims=2, num_channels=4, slice_context=1, organ_channel=True, spacing=None,
                         spatial_shape=None)
    data["output"] = {"num_channels": 1, "activation": "sigmoid", "class_names": ["lesion"]}
    data["options"] = {"organ": {"ct": "lungs"}}
    return data


def test_organ_channel_counts_and_needs_an_organ(tmp_path: Path) -> None:
    m = parse_manifest(organ_classifier(tmp_path), tmp_path)
    assert m.input.organ_channel and m.input.image_channels == 3 and m.options.organ == {"CT": "lungs"}
    data = organ_classifier(tmp_path)
    data["input"]["num_channels"] = 3  # the slice, its neighbours ... and no room for the mask
    assert "num_channels = 4 (the slice and its neighbours and the organ mask)" in problems(data, tmp_path)
    data = organ_classifier(tmp_path)
    data.pop("options")
    assert "input.organ_channel: needs options.organ" in problems(data, tmp_path)
    data = organ_classifier(tmp_path)
    data["task"] = "segmentation"
    data["output"] = valid(tmp_path)["output"]
    assert "input.organ_channel: only 2D (slice-wise) classification plugins" in problems(data, tmp_path)
    data = organ_classifier(tmp_path)
    data["input"].update(slice_context=0, num_channels=1)
    assert "organ_channel needs num_channels >= 2" in problems(data, tmp_path)


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "plugin.toml").write_text('id = "x"\nname = \n')
    with pytest.raises(ManifestError, match=r"plugin.toml: not valid TOML"):
        load_manifest(tmp_path)
