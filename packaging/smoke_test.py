"""Smoke test of the *frozen* MedLens (``make package-test``): the bundle alone, headless, offline.

Runs ``dist/medlens/medlens`` (not the venv's) with a fresh config and cache folder, so nothing the
developer's machine prepared can help it:

1. ``medlens sample`` must answer with the bundle's own sample study (inside ``dist/``);
2. ``medlens plugins list --json``: the built-in plugins the bundle carries, all usable;
3. ``medlens infer --plugin <segmentation plugin> <sample CT> --out seg.nii.gz``; the mask must have
   voxels, must equal the venv's result for the same plugin (the frozen runtime computes the same
   thing), and its Dice against the sample's real nodule label is reported. When the bundle has no
   segmentation plugin (built-in models not trained yet) a tiny threshold ONNX model is written to a
   temporary plugin folder and given to the frozen binary through ``MEDLENS_PLUGIN_PATH``: that
   still proves the frozen ONNX path end to end, and the report says so;
4. ``medlens screenshot`` of the sample CT: the PNG must not be blank;
5. ``medlens --smoke-gui``: the real window (offscreen Qt + OSMesa VTK) with its welcome page,
   "Open sample study" clicked, the series loaded, the window snapshot checked for pixels, the
   About box checked for "Not for clinical use".

Prints one line per step with its time and writes ``report.json`` in the work folder.
Exit code 0 when every check passes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEG_PREFERRED = "medlens.lesion-seg"
CLS_ID = "medlens.lesion-cls"  # the demo story's slice classifier


class SmokeError(Exception):
    pass


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: int = 600) -> tuple[str, float]:
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SmokeError(f"{' '.join(cmd[:3])}… could not run: {exc}") from exc
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise SmokeError(f"{' '.join(cmd[:3])}… exited with {proc.returncode}:\n{tail}")
    return proc.stdout, elapsed


def frozen_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MEDLENS_", "VIRTUAL_ENV"))}
    env["PATH"] = "/usr/bin:/bin"
    env["HOME"] = str(work / "home")
    env["MEDLENS_CONFIG_DIR"] = str(work / "config")
    env["MEDLENS_CACHE_DIR"] = str(work / "cache")
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env["VTK_DEFAULT_OPENGL_WINDOW"] = "vtkOSOpenGLRenderWindow"
    (work / "home").mkdir(parents=True, exist_ok=True)
    return env


def write_threshold_plugin(root: Path) -> str:
    """A 2D ONNX "segmentation" plugin: sigmoid(20·(x − 0.55)) after percentile normalisation."""
    import onnx
    from onnx import TensorProto, helper

    folder = root / "smoke.threshold-seg"
    folder.mkdir(parents=True)
    nodes = [
        helper.make_node("Sub", ["image", "offset"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "threshold",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        initializer=[helper.make_tensor("offset", TensorProto.FLOAT, [], [0.55]),
                     helper.make_tensor("gain", TensorProto.FLOAT, [], [20.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, folder / "model.onnx")
    sha = hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
    (folder / "MODEL_CARD.md").write_text("# Threshold (smoke test only)\n\nNot a model: a threshold.\n")
    (folder / "plugin.toml").write_text(f"""\
id = "smoke.threshold-seg"
name = "Threshold (packaging smoke test)"
version = "0.0.1"
task = "segmentation"
runtime = "onnx"
model_card = "MODEL_CARD.md"

[weights]
file = "model.onnx"
sha256 = "{sha}"

[input]
modality = ["CT", "MR"]
dims = 2
batch_size = 8

[input.normalization]
kind = "percentile"
percentiles = [0.5, 99.5]
value_range = [0.0, 1.0]

[output]
type = "probabilities"
num_channels = 1
activation = "sigmoid"
labels = [{{ value = 1, name = "bright", color = [255, 64, 64] }}]
""")
    return "smoke.threshold-seg"


def read_image(path: Path) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    total = int(a.sum() + b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def check_png(path: Path, what: str) -> dict[str, float]:
    px = read_image(path).astype(np.float32)
    if px.ndim == 3:
        px = px.mean(axis=-1)
    stats = {"std": float(px.std()), "nonblack_fraction": float((px > 16).mean())}
    if stats["std"] < 10 or stats["nonblack_fraction"] < 0.05:
        raise SmokeError(f"{what} {path} looks blank: {stats}")
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "medlens")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "package-smoke")
    parser.add_argument("--venv-medlens", type=Path, default=ROOT / ".venv" / "bin" / "medlens",
                        help="the source install, to compare the frozen result with (skipped if absent)")
    args = parser.parse_args(argv)

    exe = (args.bundle / ("medlens-cli.exe" if sys.platform == "win32" else "medlens")).resolve()
    if not exe.exists():
        print(f"smoke: {exe} not found; run `make package` first", file=sys.stderr)
        return 2
    if args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True)
    work = args.work.resolve()
    outside = Path(tempfile.mkdtemp(prefix="medlens-smoke-cwd-"))  # run away from the checkout
    env = frozen_env(work)
    report: dict[str, object] = {"bundle": str(args.bundle.resolve()), "steps": {}}
    steps: dict[str, object] = report["steps"]  # type: ignore[assignment]
    bundle = args.bundle.resolve()

    def step(name: str, fn):
        start = time.perf_counter()
        try:
            result = fn()
        except SmokeError as exc:
            steps[name] = {"ok": False, "error": str(exc), "seconds": round(time.perf_counter() - start, 2)}
            print(f"FAIL {name} ({time.perf_counter() - start:.1f} s): {exc}")
            raise
        steps[name] = {"ok": True, **(result or {}), "seconds": round(time.perf_counter() - start, 2)}
        print(f"ok   {name} ({time.perf_counter() - start:.1f} s): {json.dumps(result)}")
        return result

    failed = False
    try:
        def sample():
            out, _ = run([str(exe), "sample"], env, outside)
            root = Path(out.strip().splitlines()[-1])
            if bundle not in root.resolve().parents:
                raise SmokeError(f"the sample study came from {root}, not from the bundle")
            ct = root / "chest_ct"
            if not ct.is_dir():
                raise SmokeError(f"{ct} missing")
            return {"dicom_root": str(root)}

        sample_root = Path(step("sample study from the bundle", sample)["dicom_root"])
        ct = sample_root / "chest_ct"
        label = sample_root.parent / "nrrd" / "lung1_label.nrrd"

        def plugins():
            out, _ = run([str(exe), "plugins", "list", "--json"], env, outside)
            data = json.loads(out)
            items = data if isinstance(data, list) else data.get("plugins", [])
            usable = [p for p in items if p.get("ok", p.get("error") is None)]
            broken = [f"{p.get('id')}: {p.get('error')}" for p in items if p not in usable]
            return {"usable": [p.get("id") for p in usable], "broken": broken,
                    "segmentation": [p.get("id") for p in usable if p.get("task") == "segmentation"]}

        found = step("plugins list", plugins)
        if found["broken"]:
            raise SmokeError(f"broken plugins in the bundle: {found['broken']}")
        seg_ids = found["segmentation"]
        seg_id = SEG_PREFERRED if SEG_PREFERRED in seg_ids else (seg_ids[0] if seg_ids else None)
        infer_env = dict(env)
        fallback = seg_id is None
        if fallback:
            seg_id = write_threshold_plugin(work / "smoke-plugins")
            infer_env["MEDLENS_PLUGIN_PATH"] = str(work / "smoke-plugins")

        def infer():
            out_path = work / "seg.nii.gz"
            run([str(exe), "infer", "--plugin", seg_id, str(ct), "--out", str(out_path)], infer_env, outside)
            mask = read_image(out_path)
            result: dict[str, object] = {"plugin": seg_id, "fallback_threshold_plugin": fallback,
                                         "mask_voxels": int((mask > 0).sum()), "shape_zyx": list(mask.shape)}
            if result["mask_voxels"] == 0:
                raise SmokeError("the segmentation mask is empty")
            truth = read_image(label)
            if truth.shape == mask.shape:
                result["dice_vs_sample_nodule_label"] = round(dice(mask, truth), 4)
            if args.venv_medlens.exists():
                venv_out = work / "seg-venv.nii.gz"
                venv_env = dict(infer_env)
                venv_env["PATH"] = f"{args.venv_medlens.parent}:{os.environ.get('PATH', '')}"
                run([str(args.venv_medlens), "infer", "--plugin", seg_id, str(ct), "--out", str(venv_out)],
                    venv_env, ROOT)
                same = dice(mask, read_image(venv_out))
                result["dice_frozen_vs_venv"] = round(same, 6)
                if same < 0.999:
                    raise SmokeError(f"the frozen build's mask differs from the venv's (Dice {same:.4f})")
            return result

        step("infer (segmentation) with the frozen CLI", infer)

        def classify():
            """The demo story's classifier in the frozen build: the organ mask it takes as a channel is
            computed there too, and its study score comes from a nodule slice of the sample."""
            out_path = work / "cls.json"
            run([str(exe), "infer", "--plugin", CLS_ID, str(ct), "--out", str(out_path)], env, outside)
            data = json.loads(out_path.read_text())
            scores = [row[0] for row in data["slice_probabilities"]]
            c = int(data["padded_end_slices"])
            peak = c + max(range(len(scores) - 2 * c), key=lambda i: scores[c + i])
            truth = read_image(label)
            on_nodule = bool(truth[peak].any()) if truth.shape[0] == len(scores) else None
            result = {"study_probability": round(float(data["probabilities"]["lesion"]), 4),
                      "study_slice": peak, "padded_end_slices": c, "study_slice_is_nodule": on_nodule}
            if abs(float(data["probabilities"]["lesion"]) - scores[peak]) > 1e-6:
                raise SmokeError(f"the study score is not the interior peak: {result}")
            if result["study_slice_is_nodule"] is False:
                raise SmokeError(f"the classifier's study score does not come from the nodule: {result}")
            return result

        if CLS_ID in found["usable"]:
            step("infer (classification) with the frozen CLI", classify)

        def screenshot():
            png = work / "screenshot.png"
            run([str(exe), "screenshot", str(ct), "--out", str(png), "--size", "768"], env, outside)
            return check_png(png, "screenshot")

        step("screenshot (OSMesa)", screenshot)

        def gui():
            png = work / "window.png"
            out, _ = run([str(exe), "--smoke-gui", str(png)], env, outside)
            line = next((ln for ln in out.splitlines() if ln.startswith("SMOKE ")), None)
            if line is None:
                raise SmokeError(f"no report from --smoke-gui: {out[-500:]}")
            seen = json.loads(line[6:])
            problems = [k for k in ("welcome_shown", "sample_enabled", "views_shown", "loaded",
                                    "about_not_for_clinical_use") if not seen.get(k)]
            if problems:
                raise SmokeError(f"window check failed on {problems}: {seen}")
            seen.update({"window_png": check_png(png, "window snapshot"),
                         "welcome_png": check_png(work / "window-welcome.png", "welcome snapshot")})
            return seen

        step("window: welcome page, open sample, snapshot, About", gui)
    except SmokeError:
        failed = True
    finally:
        shutil.rmtree(outside, ignore_errors=True)
    report["ok"] = not failed
    (work / "report.json").write_text(json.dumps(report, indent=2))
    print(f"smoke: {'PASSED' if not failed else 'FAILED'}; report in {work / 'report.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
