"""Discovery: manifests only, broken plugins listed with their reason, weights checked at load."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from infer_helpers import TinyThreshold3d, ball_volume, sha256

import medlens
from medlens.inference import discovery
from medlens.inference.commands import plugins_list
from medlens.inference.discovery import PluginRegistry, builtin_plugin_dir, discover
from medlens.inference.errors import InferenceError, PluginLoadError, WeightsError
from medlens.inference.runner import run_plugin


def registry_for(root: Path) -> PluginRegistry:
    return PluginRegistry.discover([root], builtin=False, user=False, entry_points=False, adapters=False)


def test_builtin_folder_is_resolved_from_the_package() -> None:
    assert builtin_plugin_dir() == Path(medlens.__file__).resolve().parents[1] / "plugins"


def test_broken_manifest_is_listed_and_others_still_work(
    make_plugin: Callable[..., Path], tmp_path: Path
) -> None:
    make_plugin("good", TinyThreshold3d())
    bad = tmp_path / "plugins" / "bad"
    bad.mkdir()
    (bad / "plugin.toml").write_text('id = "bad"\ntask = "detection"\n')
    (tmp_path / "plugins" / "not-a-plugin").mkdir()
    reg = registry_for(tmp_path / "plugins")
    by_id = {e.id: e for e in reg.entries}
    assert set(by_id) == {"good", "bad"}
    assert by_id["good"].ok
    assert not by_id["bad"].ok
    assert "task: must be one of classification, segmentation, denoising" in (by_id["bad"].error or "")
    result = run_plugin("good", ball_volume(), registry=reg)
    assert result.label_map is not None and result.label_map.array.any()
    listing = plugins_list(registry=reg)
    assert "bad  BROKEN" in listing and "good  1.0.0  segmentation  CT  onnx  CPU (onnxruntime)" in listing


def test_env_var_adds_folders(make_plugin: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_plugin("from-env", TinyThreshold3d())
    monkeypatch.setenv("MEDLENS_PLUGIN_PATH", str(folder.parent))
    entries = discover(builtin=False, user=False, entry_points=False, adapters=False)
    assert [(e.id, e.source, e.ok) for e in entries] == [("from-env", "MEDLENS_PLUGIN_PATH", True)]


def test_user_folder(make_plugin: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_plugin("mine", TinyThreshold3d())
    monkeypatch.setattr(discovery, "user_plugin_dir", lambda: folder.parent)
    entries = discover(builtin=False, entry_points=False, adapters=False)
    assert [(e.id, e.source) for e in entries] == [("mine", "user")]


def test_sha_mismatch_is_refused_at_load(make_plugin: Callable[..., Path]) -> None:
    folder = make_plugin("tampered", TinyThreshold3d())
    weights = folder / "model.onnx"
    weights.write_bytes(weights.read_bytes() + b"\0")
    reg = registry_for(folder.parent)
    assert reg.get("tampered").ok  # discovery does not hash weights
    with pytest.raises(
        WeightsError, match=r"refused to load model.onnx: its sha256 is .* the manifest declares"
    ):
        run_plugin("tampered", ball_volume(), registry=reg)
    assert "refused to load" in (reg.entries[0].error or "")
    assert "tampered  BROKEN" in plugins_list(registry=reg)


def test_plugin_that_fails_to_load_is_marked_broken(make_plugin: Callable[..., Path], tmp_path: Path) -> None:
    make_plugin("good", TinyThreshold3d())
    corrupt = make_plugin("corrupt", TinyThreshold3d())
    weights = corrupt / "model.onnx"
    weights.write_bytes(b"this is not an onnx file")
    toml = corrupt / "plugin.toml"
    text = toml.read_text()
    old_sha = text.split('sha256 = "')[1].split('"')[0]
    toml.write_text(text.replace(old_sha, sha256(weights)))  # sha is right, content is garbage
    reg = registry_for(tmp_path / "plugins")
    with pytest.raises(PluginLoadError, match=r"onnxruntime cannot open model\.onnx"):
        run_plugin("corrupt", ball_volume(), registry=reg)
    with pytest.raises(InferenceError, match="plugin corrupt cannot be used: onnxruntime cannot open"):
        run_plugin("corrupt", ball_volume(), registry=reg)
    assert run_plugin("good", ball_volume(), registry=reg).label_map is not None
    assert [e.id for e in reg.usable()] == ["good"]


def test_failing_entry_point_is_listed(
    make_plugin: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_plugin("via-ep", TinyThreshold3d())

    class EP:
        def __init__(self, name: str, target: object) -> None:
            self.name, self.value, self._target = name, f"pkg:{name}", target

        def load(self) -> object:
            if isinstance(self._target, Exception):
                raise self._target
            return self._target

    eps = [EP("works", lambda: str(folder)), EP("explodes", ImportError("No module named 'pkg'"))]
    monkeypatch.setattr(discovery.metadata, "entry_points", lambda group: eps)
    entries = discover(builtin=False, user=False, adapters=False)
    assert [(e.id, e.ok) for e in entries] == [("via-ep", True), ("explodes", False)]
    assert "No module named 'pkg'" in (entries[1].error or "")


def test_duplicate_ids_keep_the_first(make_plugin: Callable[..., Path], tmp_path: Path) -> None:
    first = make_plugin("same", TinyThreshold3d())
    other_root = tmp_path / "other"
    from infer_helpers import write_plugin

    write_plugin(other_root, "same", TinyThreshold3d())
    entries = discover(
        [first.parent, other_root], builtin=False, user=False, entry_points=False, adapters=False
    )
    assert [e.ok for e in entries] == [True, False]
    assert "duplicate plugin id 'same'" in (entries[1].error or "")


def test_unknown_plugin_message(make_plugin: Callable[..., Path]) -> None:
    reg = registry_for(make_plugin("good", TinyThreshold3d()).parent)
    with pytest.raises(InferenceError, match=r"no plugin called 'nope' \(available: good\)"):
        reg.get("nope")


def test_discovery_imports_no_model_runtime(make_plugin: Callable[..., Path]) -> None:
    folder = make_plugin("good", TinyThreshold3d())
    code = (
        "import sys; from medlens.inference.discovery import discover; "
        f"e = discover([{str(folder.parent)!r}]); assert any(x.id == 'good' and x.ok for x in e); "
        "print(sorted(m for m in ('torch', 'onnxruntime', 'deepbet') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sessions_are_cached(make_plugin: Callable[..., Path]) -> None:
    reg = registry_for(make_plugin("good", TinyThreshold3d()).parent)
    a = reg.open_session("good")
    assert reg.open_session("good") is a
    assert a.device == "CPU (onnxruntime)"
    out = a.run(np.full((1, 1, 4, 4, 4), 0.9, np.float32))
    assert out.shape == (1, 2, 4, 4, 4) and np.allclose(out[0, 1], 4.0)
