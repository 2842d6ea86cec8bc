"""Brush stroke latency and undo memory on a 512 x 512 x 300 label map, against a naive baseline.

    .venv/bin/python bench/edit.py [--strokes 10] [--segments 30] [--radius 5] [--baseline-strokes 3]

What one stroke *segment* costs (one mouse-move event while painting): the editing core
(:class:`medlens.viewer.edit.SegmentationEditor.stroke_to`: capsule mask over the segment's box,
old values of that box kept) plus ``SliceView.update_label_map(box)`` and a render of the offscreen
axial pane (OSMesa) when VTK is available. Goal: <= 16 ms per segment (60 Hz mouse).

Baseline, measured in the same run: the naive way -- a full copy of the label volume per stroke for
undo (amortised over the stroke's segments), a disc computed over the whole slice, and a full
re-upload of the label map to the view (``set_label_map``) per segment.

Undo memory for the 10-stroke edit: the history's own byte count (:attr:`EditHistory.nbytes`)
against the bytes of the voxels the strokes changed. Goal: <= 2x. The naive history holds one full
volume per stroke.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.pop("DISPLAY", None)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

import numpy as np

SHAPE = (300, 512, 512)  # z, y, x
SPACING = (0.7, 0.7, 1.25)


def make_view(volume, lm):
    """An offscreen axial SliceView showing ``volume`` with ``lm`` on top, or None without VTK."""
    try:
        from vtkmodules.vtkRenderingCore import vtkRenderWindow

        from medlens.viewer.render import SliceView

        rw = vtkRenderWindow()
        rw.SetOffScreenRendering(1)
        rw.SetSize(512, 512)
        view = SliceView(rw, "axial")
        view.auto_render = False
        view.set_volume(volume)
        if not hasattr(view, "set_label_map"):
            print("(SliceView has no label overlay yet: timing the core only)")
            return None
        view.set_label_map(lm, opacity=0.5)
        view.render()
        return view
    except Exception as exc:  # no OpenGL: the core timing still means something
        print(f"(offscreen view unavailable: {type(exc).__name__}: {exc}; timing the core only)")
        return None


def stroke_points(rng, n_segments: int, k: int) -> list[tuple[float, float, float]]:
    """A wandering stroke on slice ``k``: ~8 voxels per mouse event (a brisk hand movement)."""
    p = np.array([rng.uniform(120, 390), rng.uniform(120, 390)])
    heading = rng.uniform(0, 2 * np.pi)
    pts = []
    for _ in range(n_segments + 1):
        pts.append((float(p[0]), float(p[1]), float(k)))
        heading += rng.normal(0, 0.4)
        p = np.clip(p + 8.0 * np.array([np.cos(heading), np.sin(heading)]), 5, 506)
    return pts


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strokes", type=int, default=10)
    ap.add_argument("--segments", type=int, default=30, help="mouse events per stroke")
    ap.add_argument("--radius", type=float, default=5.0, help="brush radius in mm")
    ap.add_argument("--baseline-strokes", type=int, default=3)
    args = ap.parse_args()

    from medlens.viewer.edit import SegmentationEditor
    from medlens.viewer.model import Geometry, Label, LabelMap, Volume, VolumeMeta

    geom = Geometry(SPACING)
    volume = Volume(np.zeros(SHAPE, np.int16), geom, VolumeMeta(modality="CT", units="HU"))
    lm = LabelMap(np.zeros(SHAPE, np.uint8), geom, [Label(1, "lesion", (255, 60, 60))])
    view = make_view(volume, lm)
    k = SHAPE[0] // 2
    if view is not None:
        view.set_slice(k)
    editor = SegmentationEditor(lm, volume)
    editor.radius_mm = args.radius
    rng = np.random.default_rng(0)
    print(
        f"label map {SHAPE[2]} x {SHAPE[1]} x {SHAPE[0]} uint8 ({lm.array.nbytes / 2**20:.0f} MiB), "
        f"spacing {SPACING} mm, brush radius {args.radius} mm, {args.segments} segments per stroke"
    )

    # -- MedLens: box-only core + box-only view refresh -------------------------------------
    core_t, total_t, render_t, changed_bytes = [], [], [], 0
    for _ in range(args.strokes):
        pts = stroke_points(rng, args.segments, k)
        before = lm.array[k].copy()
        editor.stroke_begin(pts[0], slice_axis=2)
        for p in pts[1:]:
            t0 = time.perf_counter()
            box = editor.stroke_to(p)
            t1 = time.perf_counter()
            if view is not None and box is not None:
                view.update_label_map(box.slices)
            t2 = time.perf_counter()
            if view is not None:
                view.render()
            t3 = time.perf_counter()
            core_t.append(t1 - t0)
            total_t.append(t2 - t0)
            render_t.append(t3 - t2)
        t0 = time.perf_counter()
        editor.stroke_end()
        commit = time.perf_counter() - t0
        changed_bytes += int((before != lm.array[k]).sum()) * lm.array.itemsize
    hist = editor.history.nbytes

    # -- baseline: full-volume undo copy per stroke, whole-slice disc, full re-upload ----------
    base_t, base_render_t = [], []
    naive_undo: list[np.ndarray] = []
    yy, xx = np.ogrid[: SHAPE[1], : SHAPE[2]]
    for _ in range(args.baseline_strokes):
        pts = stroke_points(rng, args.segments, k)
        t0 = time.perf_counter()
        naive_undo.append(lm.array.copy())  # the whole volume, for undo
        copy_per_segment = (time.perf_counter() - t0) / args.segments
        for a, b in itertools.pairwise(pts):
            t0 = time.perf_counter()
            for t in np.linspace(0, 1, 4):  # a few dabs along the segment (the naive gap filler)
                cx, cy = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
                disc = ((xx - cx) * SPACING[0]) ** 2 + ((yy - cy) * SPACING[1]) ** 2 <= args.radius**2
                lm.array[k][disc] = 1
            if view is not None:
                view.set_label_map(lm, opacity=0.5)  # full re-upload
            t1 = time.perf_counter()
            if view is not None:
                view.render()
            base_t.append(t1 - t0 + copy_per_segment)
            base_render_t.append(time.perf_counter() - t1)
    naive_bytes = sum(a.nbytes for a in naive_undo[:1]) * args.strokes  # one volume per stroke

    refresh = "core + update_label_map" if view is not None else "core only"
    print(f"\nper stroke segment, {len(total_t)} segments (ms):")
    print(
        f"  MedLens  {refresh:>26}: mean {np.mean(total_t) * 1e3:7.2f}  p95 {pct(total_t, 95):7.2f}  "
        f"max {max(total_t) * 1e3:7.2f}   (core alone: mean {np.mean(core_t) * 1e3:.2f})"
    )
    print(
        f"  baseline {'copy + slice disc + re-upload':>26}: mean {np.mean(base_t) * 1e3:7.2f}  "
        f"p95 {pct(base_t, 95):7.2f}  max {max(base_t) * 1e3:7.2f}"
    )
    print(f"  ratio baseline / MedLens (mean): {np.mean(base_t) / np.mean(total_t):.0f}x")
    goal = "meets" if pct(total_t, 95) <= 16.0 else "MISSES"
    print(f"  goal <= 16 ms (edit + refresh): {goal} (p95 {pct(total_t, 95):.2f} ms)")
    if render_t:
        print(
            "  + one render of the 512^2 pane (OSMesa, software GL): MedLens mean "
            f"{np.mean(render_t) * 1e3:.1f}"
            f" ms, baseline {np.mean(base_render_t) * 1e3:.1f} ms; end-to-end MedLens "
            f"{np.mean(np.add(total_t, render_t)) * 1e3:.1f} ms vs baseline "
            f"{np.mean(np.add(base_t, base_render_t)) * 1e3:.1f} ms "
            f"({np.mean(np.add(base_t, base_render_t)) / np.mean(np.add(total_t, render_t)):.1f}x)"
        )
    print(f"  stroke commit at release (folds the segments into one undo step): {commit * 1e3:.1f} ms")
    print(f"\nundo memory for the {args.strokes}-stroke edit:")
    print(
        f"  changed voxels: {changed_bytes} bytes; history holds {hist} bytes "
        f"-> ratio {hist / max(changed_bytes, 1):.3f} (goal <= 2)"
    )
    print(
        f"  naive (one volume copy per stroke): {naive_bytes / 2**20:.0f} MiB "
        f"-> {naive_bytes / max(hist, 1):.0f}x the history"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
