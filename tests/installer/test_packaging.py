"""The packaging pieces that can be checked without building: entry rules, bundle look-ups, staging,
desktop/MIME files. The frozen build itself is tested by ``make package-test`` (packaging/smoke_test.py)."""

from __future__ import annotations

import configparser
import hashlib
import importlib.util
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"packaging_{name}", ROOT / "packaging" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_frozen_entry_opens_the_viewer_on_double_click_and_files():
    entry = _load("entry")
    commands = {"view", "info", "infer", "screenshot", "sample", "plugins", "pacs", "convert"}
    assert entry.frozen_argv([], commands) == ["view"]
    assert entry.frozen_argv(["/data/a.nii.gz"], commands) == ["view", "/data/a.nii.gz"]
    assert entry.frozen_argv(["a.dcm", "b.dcm"], commands) == ["view", "a.dcm", "b.dcm"]
    assert entry.frozen_argv(["-psn_0_12345"], commands) == ["view"]
    assert entry.frozen_argv(["infer", "x", "--plugin", "p"], commands) == ["infer", "x", "--plugin", "p"]
    assert entry.frozen_argv(["--version"], commands) == ["--version"]


@pytest.fixture
def fake_bundle(tmp_path, monkeypatch):
    from medlens.sample import _LAYOUT_VERSION

    data = tmp_path / "_internal" / "medlens_data"
    (data / "sample" / "dicom" / "chest_ct").mkdir(parents=True)
    (data / "sample" / f".complete-{_LAYOUT_VERSION}").write_text("ok\n")
    (data / "plugins").mkdir()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "_internal"), raising=False)
    monkeypatch.setenv("MEDLENS_CACHE_DIR", str(tmp_path / "cache"))
    return data


def test_frozen_build_finds_its_own_sample_and_plugins(fake_bundle):
    from medlens.inference.discovery import builtin_plugin_dir
    from medlens.sample import bundle_data_dir, ensure_sample_study, sample_study_if_ready

    assert bundle_data_dir() == fake_bundle
    assert sample_study_if_ready().dicom_dir == fake_bundle / "sample" / "dicom" / "chest_ct"
    assert ensure_sample_study(download=False).root == fake_bundle / "sample"
    assert builtin_plugin_dir() == fake_bundle / "plugins"


def test_not_frozen_uses_the_checkout(monkeypatch):
    from medlens.inference.discovery import builtin_plugin_dir
    from medlens.sample import bundle_data_dir

    monkeypatch.delattr(sys, "frozen", raising=False)
    assert bundle_data_dir() is None
    assert builtin_plugin_dir() == ROOT / "plugins"


def _plugin(root: Path, name: str, weights: bytes | None) -> None:
    folder = root / "plugins" / name
    folder.mkdir(parents=True)
    sha = hashlib.sha256(b"w").hexdigest()
    if weights is not None:
        (folder / "model.onnx").write_bytes(weights)
    (folder / "MODEL_CARD.md").write_text("# card\n")
    (folder / "figure.png").write_bytes(b"png")
    (folder / "train.py").write_text("print('training code stays out')\n")
    (folder / "plugin.toml").write_text(
        f'id = "t.{name}"\nname = "{name}"\nversion = "1"\ntask = "denoising"\nruntime = "onnx"\n'
        f'model_card = "MODEL_CARD.md"\n[weights]\nfile = "model.onnx"\nsha256 = "{sha}"\n'
        '[input]\nmodality = ["CT"]\ndims = 2\n[input.normalization]\nkind = "none"\n'
        '[output]\ntype = "image"\nnum_channels = 1\nactivation = "none"\n'
    )


def test_prepare_stages_plugins_without_training_code_and_drops_broken_ones(tmp_path, monkeypatch):
    prepare = _load("prepare")
    monkeypatch.setattr(prepare, "ROOT", tmp_path)
    _plugin(tmp_path, "good", b"w")
    _plugin(tmp_path, "badsha", b"tampered")
    _plugin(tmp_path, "noweights", None)
    with pytest.raises(SystemExit):
        prepare.stage_plugins(tmp_path / "stage1", allow_broken=False)
    staged = prepare.stage_plugins(tmp_path / "stage2", allow_broken=True)
    assert staged == ["t.good"]
    good = tmp_path / "stage2" / "plugins" / "good"
    names = sorted(p.name for p in good.iterdir())
    assert names == ["MODEL_CARD.md", "figure.png", "model.onnx", "plugin.toml"]
    assert not (tmp_path / "stage2" / "plugins" / "badsha").exists()


def test_desktop_entry_and_mime_types():
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str
    desktop.read(ROOT / "resources" / "medlens.desktop")
    entry = desktop["Desktop Entry"]
    assert entry["Exec"].startswith("medlens ") and entry["Icon"] == "medlens"
    mimes = set(filter(None, entry["MimeType"].split(";")))
    assert {"application/dicom", "application/x-nifti", "application/x-nifti-gz"} <= mimes

    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    tree = ET.parse(ROOT / "resources" / "medlens-mime.xml")
    globs = {t.get("type"): [g.get("pattern") for g in t.findall("m:glob", ns)]
             for t in tree.getroot().findall("m:mime-type", ns)}
    assert "*.dcm" in globs["application/dicom"]
    assert "*.nii" in globs["application/x-nifti"]
    assert "*.nii.gz" in globs["application/x-nifti-gz"]
    assert mimes == set(globs)
    assert (ROOT / "resources" / "medlens.png").stat().st_size > 1000
    ET.parse(ROOT / "resources" / "medlens.svg")


def test_spec_and_scripts_parse():
    compile((ROOT / "packaging" / "medlens.spec").read_text(), "medlens.spec", "exec")
    text = (ROOT / "packaging" / "package.mk").read_text()
    for target in ("package:", "package-test:", "package-bundle:", "package-deb:"):
        assert target in text
