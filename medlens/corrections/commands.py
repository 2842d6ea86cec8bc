"""Plain functions behind ``medlens corrections list|export`` (wired by app/cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

from medlens.corrections.export import export_bundle
from medlens.corrections.store import CorrectionStore


def corrections_list(json_output: bool = False, store: CorrectionStore | None = None) -> str:
    """One line per record (or JSON): plugin, task, agreement figures; never identifiers."""
    store = store or CorrectionStore()
    rows = [r.summary() for r in store.records()]
    if json_output:
        return json.dumps(rows, indent=2)
    if not rows:
        return f"no corrections recorded ({store.root})"
    lines = []
    for r in rows:
        if r["task"] == "segmentation":
            hd = "n/a" if r["hd95_mm"] is None else f"{r['hd95_mm']:.1f} mm"
            what = f"Dice {r['dice']:.3f}  HD95 {hd}"
        else:
            verdict = "agree" if r["agree"] else f"corrected to {r['corrected_class']}"
            what = f"AI {r['ai_class']}  {verdict}"
        lines.append(
            f"{r['id'][:12]}  {r['created_utc']}  {r['plugin_id']} {r['plugin_version']}  {r['task']}  "
            f"{what}  {r['editing_seconds']:.0f} s"
        )
    return "\n".join(lines)


def corrections_export(
    out: str | Path, store: CorrectionStore | None = None, include_comments: bool = False
) -> str:
    store = store or CorrectionStore()
    path, n = export_bundle(store, out, include_comments=include_comments)
    return f"wrote {path} ({n} de-identified case{'s' if n != 1 else ''})"
