"""docs/PLUGINS.md stays true: its example manifest validates, and it names every manifest field."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

from medlens.inference.manifest import (
    IGBaselineSpec,
    InputSpec,
    Manifest,
    Normalization,
    OptionsSpec,
    OutputSpec,
    RegionRankerSpec,
    SaliencySpec,
    load_manifest,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "PLUGINS.md"


def _example() -> str:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- example:begin -->", 1)[1].split("<!-- example:end -->", 1)[0]
    return block.split("```toml", 1)[1].rsplit("```", 1)[0]


def test_example_manifest_validates(tmp_path: Path) -> None:
    folder = tmp_path / "acme"
    folder.mkdir()
    shas = []
    for name in ("model.onnx", "model.pt"):
        (folder / name).write_bytes(name.encode())
        shas.append(hashlib.sha256(name.encode()).hexdigest())
    (folder / "MODEL_CARD.md").write_text("# Acme liver\n\nNot for clinical use.\n")
    text = _example()
    for sha in shas:
        text = text.replace("<64 hex digits>", sha, 1)
    (folder / "plugin.toml").write_text(text)
    m = load_manifest(folder)
    assert (m.id, m.task, m.input.dims) == ("acme.liver-seg", "segmentation", 3)
    assert m.input.spatial_shape == (96, 128, 128)
    assert m.label_table() == [(1, "liver", (220, 120, 60))] and m.saliency is not None


def test_every_manifest_field_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"[a-z_0-9]+", text))
    internal = {"folder"}
    specs = (Manifest, InputSpec, OutputSpec, OptionsSpec, Normalization, SaliencySpec, RegionRankerSpec,
             IGBaselineSpec)
    for model in specs:
        missing = set(model.model_fields) - documented - internal
        assert not missing, f"{model.__name__}: {sorted(missing)} not in docs/PLUGINS.md"
    tomllib.loads(_example().replace("<64 hex digits>", "0" * 64))  # the example is valid TOML


def test_region_ranker_example_validates() -> None:
    """The ``[options.region_ranker]`` example is a valid table of weights."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("```toml\n[options.region_ranker]", 1)[1].split("```", 1)[0]
    spec = RegionRankerSpec(**tomllib.loads("[options.region_ranker]" + block)["options"]["region_ranker"])
    assert spec.ranker().features == ("mean", "log_elongation")
