"""Stage the data a frozen MedLens carries: the sample study, the built-in plugins, the resources.

``make package`` runs this before PyInstaller; the spec copies the staged folder into the bundle as
``medlens_data/`` (found at run time by :func:`medlens.sample.bundle_data_dir`).

* sample: :func:`medlens.sample.ensure_sample_study` (fetches the pyradiomics sdist with pip the
  first time, sha256-checked), then its DICOM series and the lesion labels are copied. The source
  NRRD volumes are left out: the same pixels are in the DICOM series.
* plugins: every ``plugins/*/`` with a ``plugin.toml``; its manifest, the files it names (weights,
  extra weights, model card), documents and figures; never training code (``*.py``), checkpoints,
  training logs or weights the manifest does not name. Each staged plugin is checked
  with MedLens' own discovery and its weights' sha256 before it is accepted, so a plugin that
  would show up broken in the app fails the build instead (``--allow-broken`` to list and go on).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_SKIP = ("__pycache__", "runs", "logs", "checkpoints", ".ipynb_checkpoints", "data")
SHIPPED_SUFFIXES = (".md", ".txt", ".png", ".jpg", ".jpeg", ".svg", ".gif", ".webp")
SAMPLE_LABELS = ("lung1_label.nrrd", "brain1_label.nrrd")
RESOURCE_FILES = ("medlens.svg", "medlens.png", "medlens-256.png", "medlens.desktop", "medlens-mime.xml",
                  "medlens.ico")


def stage_sample(dest: Path) -> Path:
    from medlens.sample import _LAYOUT_VERSION, ensure_sample_study

    study = ensure_sample_study()
    out = dest / "sample"
    shutil.copytree(study.dicom_root, out / "dicom")
    (out / "nrrd").mkdir(parents=True)
    for name in SAMPLE_LABELS:
        shutil.copy2(study.root / "nrrd" / name, out / "nrrd" / name)
    (out / "LICENSE-pyradiomics-data.txt").write_text(
        "Sample images and labels: pyradiomics 3.0.1 source distribution (data/lung1, data/brain1),\n"
        "Copyright (c) the pyradiomics developers, BSD 3-Clause licence; converted to DICOM by MedLens.\n"
    )
    (out / f".complete-{_LAYOUT_VERSION}").write_text("ok\n")
    return out


def _plugin_files(folder: Path, manifest: object) -> list[Path]:
    """What a plugin ships: its manifest, the files it names (weights, card), documents and figures."""
    named = [Path("plugin.toml"), Path(manifest.weights.file), Path(manifest.model_card)]  # type: ignore[attr-defined]
    named += [Path(w.file) for w in getattr(manifest, "extra_weights", {}).values()]
    files = {folder / n for n in named if not n.is_absolute()}
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if path.is_file() and not any(rel.match(p) or p in rel.parts for p in PLUGIN_SKIP) and (
            path.suffix.lower() in SHIPPED_SUFFIXES or path.name.upper().startswith(("LICENSE", "NOTICE"))
        ):
            files.add(path)
    return sorted(files)


def stage_plugins(dest: Path, allow_broken: bool) -> list[str]:
    from medlens.inference.discovery import discover
    from medlens.inference.weights import verify_weights

    out = dest / "plugins"
    out.mkdir(parents=True)
    staged: list[str] = []
    problems: list[str] = []
    source = ROOT / "plugins"
    for entry in discover([source], builtin=False, user=False, entry_points=False, adapters=False):
        if not entry.ok or entry.path is None:
            problems.append(f"{entry.id}: {entry.error}")
            continue
        target = out / entry.path.name
        for path in _plugin_files(entry.path, entry.manifest):
            copy = target / path.relative_to(entry.path)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
        manifest = entry.manifest
        specs = [manifest.weights, *getattr(manifest, "extra_weights", {}).values()]
        try:
            for spec in specs:
                verify_weights(target / spec.file, spec.sha256, entry.id)
        except Exception as exc:
            problems.append(f"{entry.id}: {exc}")
            shutil.rmtree(target)  # a broken plugin is left out rather than shipped as a red entry
            continue
        staged.append(entry.id)
    for p in problems:
        print(f"prepare: plugin not usable: {p}", file=sys.stderr)
    if problems and not allow_broken:
        raise SystemExit("prepare: fix the plugins above, or pass --allow-broken to build without them")
    return staged


def stage_resources(dest: Path) -> None:
    out = dest / "resources"
    out.mkdir(parents=True)
    for name in RESOURCE_FILES:
        src = ROOT / "resources" / name
        if src.exists():
            shutil.copy2(src, out / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "medlens_data")
    parser.add_argument("--allow-broken", action="store_true",
                        help="leave out plugins whose manifest or weights do not check instead of failing")
    args = parser.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    sample = stage_sample(args.out)
    plugins = stage_plugins(args.out, args.allow_broken)
    stage_resources(args.out)
    print(f"prepare: sample study -> {sample}")
    print(f"prepare: {len(plugins)} built-in plugin(s): {', '.join(plugins) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
