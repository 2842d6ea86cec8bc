"""The ``medlens`` command line: the headless twin of the window.

Every command a user can run here maps onto the same core functions the GUI calls, so tests and
scripts can drive MedLens without a screen. User errors (a missing path, an unreadable study, an
unknown output format) end with a one-line message and a non-zero exit code, never a traceback;
set ``MEDLENS_DEBUG=1`` to see the traceback of an unexpected failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import __version__

EXIT_OK = 0
EXIT_USAGE = 2  # argparse's own code for bad arguments; also "no display"
EXIT_INPUT = 3  # nothing readable / wrong input
EXIT_INTERNAL = 4

IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
LAYOUTS = ("quad", "axial", "coronal", "sagittal", "3d")


class CliError(Exception):
    """A failure the user can fix; printed as one line."""

    def __init__(self, message: str, code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.code = code


def _err(message: str) -> None:
    print(f"medlens: {message}", file=sys.stderr)


def _require_path(path: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise CliError(f"{path}: no such file or folder")
    return p


def _progress_printer(label: str) -> Callable[[int, int], None] | None:
    """A terminal progress bar on stderr, only when stderr is a terminal (keeps logs clean)."""
    if not sys.stderr.isatty():
        return None

    def report(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        end = "\n" if done >= total else ""
        print(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end, file=sys.stderr)

    return report


def _load_all(path: Path) -> tuple[list[Any], Any]:
    from ..viewer.io import load

    volumes, scan = load(path, progress=_progress_printer("loading"))
    return volumes, scan


def _series_record(volume: Any) -> dict[str, Any]:
    meta = volume.meta
    return {
        "series_uid": meta.series_uid,
        "study_uid": meta.study_uid,
        "modality": meta.modality,
        "description": meta.series_description,
        "size": list(volume.shape_xyz),
        "spacing": [round(v, 6) for v in volume.spacing],
        "origin": [round(v, 6) for v in volume.origin],
        "direction": [round(v, 6) for v in volume.geometry.direction],
        "dtype": str(volume.array.dtype),
        "units": meta.units,
        "window": list(meta.window) if meta.window else None,
        "is_2d": meta.is_2d,
        "warnings": list(meta.warnings),
    }


def cmd_info(args: argparse.Namespace) -> int:
    path = _require_path(args.path)
    volumes, scan = _load_all(path)
    report = {
        "path": str(path),
        "series": [_series_record(v) for v in volumes],
        "skipped_files": scan.skipped_files,
        "errors": list(scan.errors),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{path}: {len(volumes)} series, {scan.skipped_files} non-image file(s) skipped")
        for i, rec in enumerate(report["series"], 1):
            x, y, z = rec["size"]
            print(f"[{i}] {rec['modality'] or '?'} {rec['description'] or '(no description)'}")
            print(f"    size {x}x{y}x{z}  spacing {' x '.join(f'{s:g}' for s in rec['spacing'])} mm")
            print(f"    origin {', '.join(f'{o:.3f}' for o in rec['origin'])} (LPS mm)")
            print(f"    direction {', '.join(f'{d:.4g}' for d in rec['direction'])}")
            for w in rec["warnings"]:
                print(f"    warning: {w}")
        for e in scan.errors:
            print(f"error: {e}")
    if not volumes:
        first = scan.errors[0] if scan.errors else "no DICOM or image files found"
        raise CliError(f"{path}: nothing readable ({first})")
    return EXIT_OK


def _pick_volume(volumes: list[Any], scan: Any, path: Path, series: int | None) -> Any:
    if not volumes:
        first = scan.errors[0] if scan.errors else "no DICOM or image files found"
        raise CliError(f"{path}: nothing readable ({first})")
    if series is None:
        if len(volumes) > 1:
            listing = "; ".join(
                f"{i}: {v.meta.modality} {v.meta.series_description}".strip()
                for i, v in enumerate(volumes, 1)
            )
            raise CliError(f"{path} holds {len(volumes)} series; choose one with --series N ({listing})",
                           EXIT_USAGE)
        return volumes[0]
    if not 1 <= series <= len(volumes):
        raise CliError(f"--series {series} is out of range: {path} holds {len(volumes)} series", EXIT_USAGE)
    return volumes[series - 1]


def cmd_convert(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if not out.name.lower().endswith(IMAGE_SUFFIXES):
        raise CliError(f"{out}: unknown output format; use one of {', '.join(IMAGE_SUFFIXES)}", EXIT_USAGE)
    path = _require_path(args.input)
    volumes, scan = _load_all(path)
    volume = _pick_volume(volumes, scan, path, args.series)
    from ..viewer.io import write_image_file

    out.parent.mkdir(parents=True, exist_ok=True)
    write_image_file(volume, out)
    print(f"wrote {out} ({'x'.join(map(str, volume.shape_xyz))}, {volume.meta.modality or 'image'})")
    return EXIT_OK


def cmd_screenshot(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise CliError(f"{out}: screenshots are written as PNG", EXIT_USAGE)
    path = _require_path(args.path)
    volumes, scan = _load_all(path)
    volume = _pick_volume(volumes, scan, path, args.series or (1 if len(volumes) > 1 else None))
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        # no screen: render with OSMesa straight away instead of VTK failing on X first (a warning)
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")
    from ..viewer.render import render_screenshot

    window = None
    if args.window:
        try:
            centre, width = (float(v) for v in args.window.split(","))
        except ValueError as exc:
            raise CliError("--window takes CENTRE,WIDTH, e.g. 40,400", EXIT_USAGE) from exc
        window = (centre, width)
    out.parent.mkdir(parents=True, exist_ok=True)
    render_screenshot(volume, out, layout=args.layout, size=(args.size, args.size), window=window)
    print(f"wrote {out}")
    return EXIT_OK


def cmd_view(args: argparse.Namespace) -> int:
    paths = [str(_require_path(p)) for p in args.paths]
    from .viewer_entry import run_viewer

    return run_viewer(paths)


def cmd_plugins_list(args: argparse.Namespace) -> int:
    from ..inference.commands import plugins_list

    print(plugins_list(json=args.json))
    return EXIT_OK


def cmd_plugins_show(args: argparse.Namespace) -> int:
    from ..inference.commands import plugins_show

    print(plugins_show(args.plugin_id))
    return EXIT_OK


def cmd_infer(args: argparse.Namespace) -> int:
    path = _require_path(args.input)
    from ..inference.commands import run_infer

    print(run_infer(args.plugin, path, args.out, progress=_progress_printer(args.plugin)))
    return EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    from ..sample import ensure_sample_study

    try:
        study = ensure_sample_study()
    except RuntimeError as exc:
        raise CliError(str(exc)) from exc
    print(study.dicom_root)
    return EXIT_OK


def cmd_corrections_list(args: argparse.Namespace) -> int:
    from ..corrections.commands import corrections_list
    from ..corrections.store import StoreError

    try:
        print(corrections_list(json_output=args.json))
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    return EXIT_OK


def cmd_corrections_export(args: argparse.Namespace) -> int:
    from ..corrections.commands import corrections_export
    from ..corrections.store import StoreError

    try:
        print(corrections_export(args.out, include_comments=args.include_comments))
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    return EXIT_OK


def cmd_finetune(args: argparse.Namespace) -> int:
    from ..corrections.finetune import finetune_plugin

    report = finetune_plugin(args.plugin, steps=args.steps, progress=_progress_printer("fine-tuning"))
    print(f"{report.note}\nnew version folder: {report.folder}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medlens", description="MedLens medical image viewer (not for clinical use)"
    )
    parser.add_argument("--version", action="version", version=f"medlens {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("view", help="open studies in the viewer window")
    p.add_argument("paths", nargs="*", help="DICOM folder, zip, DICOMDIR or image files")
    p.set_defaults(func=cmd_view)

    p = sub.add_parser("info", help="list the series of a study with their geometry")
    p.add_argument("path")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("convert", help="convert a series to NIfTI / NRRD / MHA")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--series", type=int, help="which series (1-based) when the input holds several")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("screenshot", help="render views of a series to a PNG without a screen")
    p.add_argument("path")
    p.add_argument("--out", required=True)
    p.add_argument("--layout", choices=LAYOUTS, default="quad")
    p.add_argument("--size", type=int, default=1024, help="image edge in pixels")
    p.add_argument("--window", help="CENTRE,WIDTH (default: the file's window or a preset)")
    p.add_argument("--series", type=int, help="which series (1-based); default the first")
    p.set_defaults(func=cmd_screenshot)

    p = sub.add_parser("plugins", help="list the AI plugins or show a model card")
    psub = p.add_subparsers(dest="plugins_command", required=True, metavar="ACTION")
    q = psub.add_parser("list", help="every plugin found, broken ones with their reason")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_plugins_list)
    q = psub.add_parser("show", help="print a plugin's model card")
    q.add_argument("plugin_id")
    q.set_defaults(func=cmd_plugins_show)

    p = sub.add_parser("infer", help="run a plugin on a study and write its result")
    p.add_argument("input", help="DICOM folder, zip or image file")
    p.add_argument("--plugin", required=True, help="plugin id (see `medlens plugins list`)")
    p.add_argument(
        "--out",
        required=True,
        help="label map or image (.nii.gz, .nrrd); .json for classes; .dcm on a DICOM series: SEG / SR",
    )
    p.set_defaults(func=cmd_infer)

    p = sub.add_parser("sample", help="prepare the bundled sample study and print its folder")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("corrections", help="list or export the AI corrections reported here")
    csub = p.add_subparsers(dest="corrections_command", required=True, metavar="ACTION")
    q = csub.add_parser("list", help="one line per reported correction (no identifiers)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_corrections_list)
    q = csub.add_parser("export", help="write a de-identified bundle (NIfTI + JSON) for a model team")
    q.add_argument("out", help="the .zip to write")
    q.add_argument("--include-comments", action="store_true", help="also export free-text comments")
    q.set_defaults(func=cmd_corrections_export)

    p = sub.add_parser("finetune", help="fine-tune a plugin on the reported corrections")
    p.add_argument("--plugin", required=True, help="plugin id (needs a TorchScript twin)")
    p.add_argument("--steps", type=int, default=200, help="optimiser steps")
    p.set_defaults(func=cmd_finetune)

    from ..pacs.commands import add_parser as add_pacs_parser

    add_pacs_parser(sub)
    return parser


def quiet_library_warnings() -> None:
    """Keep pydicom's per-file warnings (odd VRs, implicit/explicit mix-ups) off the terminal.

    The reader already turns what matters into one-line errors and series warnings; the raw library
    chatter would bury them. ``MEDLENS_DEBUG=1`` keeps it.
    """
    if os.environ.get("MEDLENS_DEBUG"):
        return
    import logging
    import warnings

    warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"highdicom(\.|$)")
    logging.getLogger("pydicom").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    quiet_library_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    except CliError as exc:
        _err(str(exc))
        return exc.code
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # the last line of defence: one line, not a traceback
        from ..inference.errors import InferenceError
        from ..viewer.io import LoadError

        if isinstance(exc, LoadError | InferenceError):
            _err(str(exc))
            return EXIT_INPUT
        if isinstance(exc, MemoryError):
            _err("out of memory while processing this study")
            return EXIT_INTERNAL
        if os.environ.get("MEDLENS_DEBUG"):
            traceback.print_exc()
        _err(f"unexpected error: {type(exc).__name__}: {exc} (set MEDLENS_DEBUG=1 for details)")
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
