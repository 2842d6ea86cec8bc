"""Slice scrolling with overlays (label map + heatmap) vs without, on the offscreen (OSMesa) window.

    .venv/bin/python bench/overlay_scroll.py [--seconds 1] [--rounds 3] [--size 512] [--random]

Volume: the sample chest CT (512 x 512 x 48). Overlays: its real nodule mask with an uncertainty
shell around it (what a segmentation result looks like), and a pessimistic pair: a second label on
every slice and a smooth synthetic float32 field as the heatmap (threshold 0.3, so part of every
slice is drawn);
``--random`` uses a random 512^2 x 160 volume with a synthetic blob mask instead. The axial pane
scrolls for ``--seconds`` in each configuration and the script prints frames per second and the
ratio to plain scrolling measured in the same process, plus the cost of one
``update_label_map(bounds)`` after a brush-sized in-place edit (what an annotator pays per stroke
segment) and of building the 3D surfaces. Requirement: >= 40 fps with label fill + heatmap at 512^2.
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

import numpy as np


def load(random: bool):
    """(volume, label map, heatmap, source text)."""
    from medlens.viewer.model import Geometry, Heatmap, Label, LabelMap, Volume, VolumeMeta

    labels = [Label(1, "nodule", (255, 64, 64)), Label(2, "ring", (64, 200, 255))]
    vol = None
    mask = None
    if not random:
        try:
            import SimpleITK as sitk

            from medlens.sample import ensure_sample_study

            s = ensure_sample_study()
            vol = Volume.from_sitk(sitk.ReadImage(str(s.image_nrrd)), VolumeMeta(modality="CT", units="HU"))
            mask = (sitk.GetArrayFromImage(sitk.ReadImage(str(s.label_nrrd))) > 0).astype(np.uint8)
            source = f"sample CT {s.image_nrrd} + real nodule mask"
        except Exception as exc:
            print(f"(sample study unavailable: {type(exc).__name__}: {exc}; using a random volume)")
    if vol is None:
        rng = np.random.default_rng(0)
        a = rng.normal(0, 200, size=(160, 512, 512)).astype(np.int16)
        vol = Volume(a, Geometry((0.7, 0.7, 1.25)), VolumeMeta(modality="CT", units="HU"))
        source = "random volume + synthetic blob"
    nz, ny, nx = vol.array.shape
    z, y, x = np.ogrid[:nz, :ny, :nx]
    r2 = ((y - ny / 2) / (ny / 5)) ** 2 + ((x - nx / 2) / (nx / 5)) ** 2
    if mask is None:
        mask = (r2 < 0.3).astype(np.uint8)
    ring = (r2 > 0.9) & (r2 < 1.0)
    lab = mask.copy()
    lab[np.broadcast_to(ring, lab.shape) & (lab == 0)] = 2  # a second label on every slice
    lm = LabelMap(np.ascontiguousarray(lab), vol.geometry, labels, "bench")
    field = np.exp(-r2 / 2.0) * (0.6 + 0.4 * np.cos(z / 7.0))
    hm = Heatmap(np.ascontiguousarray(field.astype(np.float32)), vol.geometry, "bench", "uncertainty")
    # what a segmentation result looks like: the lesion mask alone, and a TTA-like uncertainty
    # shell around its boundary
    from scipy.ndimage import gaussian_filter

    g = gaussian_filter(mask.astype(np.float32), (1.0, 3.0, 3.0))
    lesion = LabelMap(mask, vol.geometry, labels[:1], "lesion")
    shell = Heatmap(np.ascontiguousarray(4 * g * (1 - g)), vol.geometry, "tta spread", "uncertainty")
    return vol, lm, hm, lesion, shell, source


def fps_loop(step, seconds: float) -> float:
    step(0)
    n, t0 = 0, time.perf_counter()
    while (dt := time.perf_counter() - t0) < seconds:
        n += 1
        step(n)
    return n / dt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--random", action="store_true")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    from vtkmodules.vtkRenderingCore import vtkRenderWindow

    from medlens.viewer.render import SliceView, VolumeView

    vol, lm, hm, lesion, shell, source = load(args.random)
    print(f"volume: {source}  shape(x,y,z)={vol.shape_xyz}; window {args.size}x{args.size}, OSMesa")
    rw = vtkRenderWindow()
    rw.SetOffScreenRendering(1)
    rw.SetSize(args.size, args.size)
    view = SliceView(rw, "axial")
    view.set_volume(vol)
    n = view.n_slices

    def scroll(i: int) -> None:
        view.set_slice(i % n)

    def configure(name: str) -> None:
        view.set_label_map(None)
        view.set_heatmap(None)
        if name == "plain":
            return
        if name.startswith("lesion"):
            view.set_label_map(lesion, opacity=0.5, outline=True, fill=True)
            view.set_heatmap(shell, "inferno", 0.5, threshold=0.3)
            return
        outline, fill = {"fill": (False, True), "outline": (True, False), "fill+outline": (True, True)}[
            name.split()[1]
        ]
        view.set_label_map(lm, opacity=0.5, outline=outline, fill=fill)
        if "heatmap" in name:
            view.set_heatmap(hm, "inferno", 0.5, threshold=0.3)

    configs = [
        "plain",
        "lesion fill+outline + uncertainty",
        "labels fill",
        "labels fill + heatmap",
        "labels fill+outline + heatmap",
        "labels outline + heatmap",
    ]
    # interleaved rounds, medians: the machine is shared, a single long run per configuration
    # would compare different loads rather than different pipelines
    fps: dict[str, list[float]] = {c: [] for c in configs}
    cpu: dict[str, list[float]] = {c: [] for c in configs}
    for _ in range(args.rounds):
        for c in configs:
            configure(c)
            c0 = time.process_time()
            frames = [0]

            def step(i: int, frames=frames) -> None:
                frames[0] += 1
                scroll(i)

            fps[c].append(fps_loop(step, args.seconds))
            cpu[c].append((time.process_time() - c0) / frames[0] * 1000)
    base = float(np.median(fps["plain"]))
    base_cpu = float(np.median(cpu["plain"]))
    print(f"axial scrolling (set_slice + render), median of {args.rounds} interleaved rounds:")
    for c in configs:
        f, m = float(np.median(fps[c])), float(np.median(cpu[c]))
        print(
            f"  {c:32s} {f:6.1f} fps  x{f / base:.2f} of plain   CPU {m:5.1f} ms/frame (x{m / base_cpu:.2f})"
        )
    print("  (lesion: the real nodule mask + an uncertainty shell around it, i.e. an AI result;")
    print("   labels/heatmap: a second label on every slice + a field covering ~40% of each slice,")
    print("   the pessimistic case: cost grows with the overlay's on-screen area)")
    for c in ("lesion fill+outline + uncertainty", "labels fill + heatmap"):
        f = float(np.median(fps[c]))
        print(
            f"  requirement >= 40 fps, {c}: {'met' if f >= 40 else 'NOT met'} "
            f"({f:.1f} fps; plain {base:.1f} fps on this machine now)"
        )

    # brush: a 9x9 edit on the displayed slice, then update_label_map with its bounds
    view.set_label_map(lm, opacity=0.5, outline=True, fill=True)
    view.set_slice(n // 2)
    k, cy, cx = n // 2, vol.array.shape[1] // 2, vol.array.shape[2] // 2
    times, renders = [], []
    view.auto_render = False
    for i in range(50):
        b = (slice(k, k + 1), slice(cy - 4 + i % 5, cy + 5 + i % 5), slice(cx - 4, cx + 5))
        t0 = time.perf_counter()
        lm.array[b] = 1 + (i % 2)
        view.update_label_map(b)
        t1 = time.perf_counter()
        view.render()
        times.append(t1 - t0)
        renders.append(time.perf_counter() - t1)
    print(
        f"brush stroke segment: edit + update_label_map {1000 * np.median(times):.2f} ms, "
        f"then the frame {1000 * np.median(renders):.1f} ms (medians)"
    )
    view.dispose()

    vv = VolumeView(rw)
    t0 = time.perf_counter()
    vv.auto_render = False
    vv.set_label_surfaces(lm)
    print(
        f"3D label surfaces: {len(vv.label_surfaces.actors)} labels built in {time.perf_counter() - t0:.2f} s"
    )
    vv.dispose()
    rw.Finalize()


if __name__ == "__main__":
    main()
