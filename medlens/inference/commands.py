"""Plain functions behind ``medlens plugins list|show`` and ``medlens infer`` (wired by app/cli.py).

Each returns the text to print and raises :class:`InferenceError` (one readable line) for mistakes
a user can make: an unknown plugin, a series of the wrong modality, an unreadable file.
"""

from __future__ import annotations

import json as jsonlib
import threading
from collections.abc import Callable
from pathlib import Path

from medlens.inference.discovery import PluginEntry, PluginRegistry, default_registry
from medlens.inference.errors import InferenceError
from medlens.inference.fileio import read_volume, write_array
from medlens.inference.runner import RunOptions, run_plugin
from medlens.inference.runtimes import get_runtime
from medlens.inference.seg_output import read_dicom_series, wants_dicom_output, write_seg, write_sr


def _device(entry: PluginEntry) -> str:
    if entry.manifest is None:
        return ""
    try:
        return get_runtime(entry.manifest.runtime).device_description()
    except Exception as exc:  # runtime not installed
        return f"unavailable ({exc})"


def _row(entry: PluginEntry) -> dict[str, object]:
    m = entry.manifest
    return {
        "id": entry.id,
        "name": m.name if m else "",
        "version": m.version if m else "",
        "task": m.task if m else "",
        "runtime": m.runtime if m else "",
        "modality": list(m.input.modality) if m else [],
        "device": _device(entry),
        "source": entry.source,
        "path": str(entry.path) if entry.path else "",
        "ok": entry.ok,
        "error": entry.error,
    }


def plugins_list(json: bool = False, registry: PluginRegistry | None = None) -> str:
    """Every discovered plugin with its task, runtime and device; broken ones with the reason."""
    registry = registry or default_registry()
    rows = [_row(e) for e in registry.entries]
    if json:
        return jsonlib.dumps(rows, indent=2)
    if not rows:
        return "no plugins found"
    lines = []
    for r in rows:
        if r["ok"]:
            lines.append(
                f"{r['id']}  {r['version']}  {r['task']}  {'/'.join(r['modality'])}  "  # type: ignore[arg-type]
                f"{r['runtime']}  {r['device']}  - {r['name']}"
            )
        else:
            lines.append(f"{r['id']}  BROKEN ({r['source']}): {r['error']}")
    return "\n".join(lines)


def plugins_show(plugin_id: str, registry: PluginRegistry | None = None) -> str:
    """The plugin's model card (markdown), headed by what MedLens knows of it."""
    registry = registry or default_registry()
    m = registry.manifest(plugin_id)
    header = (
        f"{m.name} ({m.id} {m.version}) - {m.task}, {m.runtime}, "
        f"{'/'.join(m.input.modality)} {m.input.dims}D\n{'=' * 60}\n"
    )
    try:
        return header + m.model_card_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InferenceError(f"plugin {plugin_id}: cannot read its model card ({exc.strerror})") from exc


def run_infer(
    plugin_id: str,
    input_path: str | Path,
    out_path: str | Path,
    progress: Callable[[int, int], None] | None = None,
    *,
    options: RunOptions | None = None,
    cancel: threading.Event | None = None,
    registry: PluginRegistry | None = None,
) -> str:
    """Run a plugin on a file or DICOM folder and write the result; returns a summary to print.

    Segmentation writes the label map, denoising the new image (both in the format the suffix of
    ``out_path`` names, e.g. ``.nii.gz`` or ``.nrrd``); classification writes JSON. ``.dcm`` on a
    DICOM series: a DICOM SEG (segmentation) or a DICOM SR (classification) referencing it.
    """
    registry = registry or default_registry()
    manifest = registry.manifest(plugin_id)
    as_dicom = wants_dicom_output(out_path)  # .dcm: DICOM SEG / SR referencing the input series
    if as_dicom and manifest.task == "denoising":
        raise InferenceError(
            f"--out *.dcm writes a DICOM SEG (segmentation) or SR (classification); plugin {plugin_id} "
            "denoises: write .nii.gz or .nrrd"
        )
    as_seg = as_dicom and manifest.task == "segmentation"
    volume = read_dicom_series(input_path) if as_dicom else read_volume(input_path)
    result = run_plugin(plugin_id, volume, options, registry=registry, progress=progress, cancel=cancel)
    out = Path(out_path)
    lines: list[str] = []
    if manifest.task == "classification":
        payload = {
            "plugin": plugin_id,
            "version": manifest.version,
            "probabilities": result.probabilities,
            "slice_probabilities": (
                result.slice_probabilities.tolist() if result.slice_probabilities is not None else None
            ),
            "padded_end_slices": result.padded_end_slices,
            "warnings": result.warnings,
            "note": "not for clinical use",
        }
        if as_dicom:
            write_sr(result, manifest, volume, out)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(jsonlib.dumps(payload, indent=2), encoding="utf-8")
        best = max(result.probabilities, key=result.probabilities.__getitem__)
        lines.append(f"{best}: {result.probabilities[best]:.3f}")
    elif manifest.task == "segmentation":
        assert result.label_map is not None
        lm = result.label_map
        if as_seg:
            write_seg(lm, volume, out, algorithm_name=f"{manifest.name} {manifest.version}")
        else:
            write_array(lm.array, lm.geometry, out)
        voxel_ml = float(lm.geometry.spacing[0] * lm.geometry.spacing[1] * lm.geometry.spacing[2]) / 1000.0
        for lab in lm.labels:
            lines.append(f"{lab.name}: {int((lm.array == lab.value).sum()) * voxel_ml:.1f} ml")
    else:
        assert result.volume is not None
        write_array(result.volume.array, result.volume.geometry, out)
    lines.append(f"wrote {out} ({result.device}, {result.elapsed_s:.1f} s)")
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)
