"""Slice-scrolling and 3D frame-rate benchmark on the offscreen (OSMesa) window.

    .venv/bin/python bench/scroll.py [--seconds 2] [--size 512] [--slices 160] [--random]

Volume: the sample chest CT (``medlens.sample.ensure_sample_study().image_nrrd``) when that
module exists, else a smooth random 512 x 512 x N int16 volume. For each pane it scrolls for
``--seconds`` and prints frames per second, next to two references measured in the same process:

* naive  -- what scrolling costs when each frame re-runs ``vtkImageReslice`` + window/level
  (``vtkImageMapToWindowLevelColors``) over the *whole* volume, as a pipeline that windows the
  volume instead of the displayed slice does;
* static -- re-rendering an unchanged frame (the ceiling set by OSMesa for this window size).

Memory: RSS before loading, after the views hold the volume, and the peak, relative to the
volume's bytes (zero-copy means the views add ~nothing on top of the array).
Then the 3D view: time per frame while rotating in interactive quality vs full quality.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

os.environ.pop("DISPLAY", None)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np


def rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # pragma: no cover
        return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def load_volume(args):
    from medlens.viewer.model import Geometry, Volume, VolumeMeta

    if not args.random:
        try:
            import SimpleITK as sitk

            from medlens.sample import ensure_sample_study

            obj = ensure_sample_study()
            image = sitk.ReadImage(str(obj.image_nrrd))
            vol = Volume.from_sitk(image, VolumeMeta(modality="CT", units="HU"))
            return vol, f"sample CT {obj.image_nrrd}"
        except Exception as exc:  # no sample module yet, or no data
            print(f"(sample study unavailable: {type(exc).__name__}: {exc}; using a random volume)")
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    coarse = (max(args.slices // 4, 2), args.size // 4, args.size // 4)
    small = rng.normal(0, 1, size=coarse).astype(np.float32)
    small = gaussian_filter(small, 1.5)
    small = (small - small.mean()) / (small.std() + 1e-6) * 400.0
    a = np.kron(small, np.ones((4, 4, 4), np.float32))[: args.slices, : args.size, : args.size]
    a = np.ascontiguousarray(a.astype(np.int16))
    geometry = Geometry(spacing=(0.7, 0.7, 1.25))
    return Volume(a, geometry, VolumeMeta(modality="CT", units="HU")), "random smooth volume"


def fps_loop(step, seconds: float) -> float:
    step(0)  # warm-up (texture allocation, text rasterising)
    n, t0 = 0, time.perf_counter()
    while (dt := time.perf_counter() - t0) < seconds:
        n += 1
        step(n)
    return n / dt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--size", type=int, default=512, help="window size and random volume in-plane size")
    p.add_argument("--slices", type=int, default=160, help="random volume slice count")
    p.add_argument("--random", action="store_true", help="skip the sample study")
    p.add_argument("--no-3d", action="store_true")
    args = p.parse_args()

    import SimpleITK  # noqa: F401  (imported up front so RSS deltas are about data, not code)
    from vtkmodules.vtkImagingColor import vtkImageMapToWindowLevelColors
    from vtkmodules.vtkImagingCore import vtkImageReslice
    from vtkmodules.vtkRenderingCore import vtkImageActor, vtkRenderer, vtkRenderWindow

    from medlens.viewer.model import Volume
    from medlens.viewer.render import SliceView, VolumeView
    from medlens.viewer.render.vtk_bridge import volume_to_vtk

    rss0 = rss_mb()
    vol, source = load_volume(args)
    vol_mb = vol.nbytes / 2**20
    print(f"volume: {source}  shape(x,y,z)={vol.shape_xyz} {vol.array.dtype} {vol_mb:.0f} MiB")
    rss_loaded = rss_mb()

    rw = vtkRenderWindow()
    rw.SetOffScreenRendering(1)
    rw.SetSize(args.size, args.size)
    # warm the GL context, shaders and fonts on a tiny volume so the RSS delta below is the data's
    warm = SliceView(rw, "axial")
    warm.set_volume(Volume(np.zeros((2, 8, 8), np.int16), vol.geometry, vol.meta))
    warm.dispose()
    rss_warm = rss_mb()
    results = {}
    for orientation in ("axial", "coronal", "sagittal"):
        view = SliceView(rw, orientation)
        view.set_volume(vol)
        n = view.n_slices

        def step(i, view=view, n=n):
            view.set_slice(i % n)  # renders

        results[orientation] = fps_loop(step, args.seconds)
        if orientation == "axial":
            results["static"] = fps_loop(lambda _i, view=view: view.render(), args.seconds / 2)
            rss_view = rss_mb()
            peak_view = peak_rss_mb()
        view.dispose()
    print(f"window {args.size}x{args.size}, OSMesa; scrolling (set_slice + render), corner text on:")
    for k in ("axial", "coronal", "sagittal"):
        print(f"  {k:9s} {results[k]:7.1f} fps")
    print(f"  static frame     {results['static']:7.1f} fps  (render only, the ceiling)")

    # naive: reslice + window/level the whole volume each frame, then show the current slice
    vv = volume_to_vtk(vol)
    reslice = vtkImageReslice()
    reslice.SetInputData(vv.image)
    wl = vtkImageMapToWindowLevelColors()
    wl.SetInputConnection(reslice.GetOutputPort())
    wl.SetWindow(400)
    wl.SetLevel(40)
    actor = vtkImageActor()
    actor.GetMapper().SetInputConnection(wl.GetOutputPort())
    ren = vtkRenderer()
    ren.AddViewProp(actor)
    rw.AddRenderer(ren)
    nz = vol.shape_xyz[2]
    ren.ResetCamera()

    def naive(i):
        k = i % nz
        reslice.Modified()  # the pipeline re-executes, as if reslice/W-L parameters had changed
        wl.UpdateWholeExtent()  # ...over the whole volume (without this VTK streams one slice)
        actor.SetDisplayExtent(0, vol.shape_xyz[0] - 1, 0, vol.shape_xyz[1] - 1, k, k)
        rw.Render()

    naive_fps = fps_loop(naive, min(args.seconds, 3.0))
    rw.RemoveRenderer(ren)
    print(f"  naive (whole-volume reslice + W/L per frame) {naive_fps:7.2f} fps")
    print(f"  axial speed-up over naive: x{results['axial'] / naive_fps:.0f}")

    print(
        f"memory (MiB): RSS {rss0:.0f} after imports, "
        f"{rss_loaded:.0f} after load (+{rss_loaded - rss0:.0f}), "
        f"{rss_warm:.0f} with a warm GL context, {rss_view:.0f} after the axial view scrolled the volume "
        f"(+{rss_view - rss_warm:.0f} = {(rss_view - rss_warm) / vol_mb:.2f} x volume; zero-copy); "
        f"peak RSS {peak_view:.0f} before the naive baseline = {peak_view / vol_mb:.1f} x volume bytes "
        f"(process total: Python, VTK, GL context), {peak_rss_mb():.0f} after it"
    )

    if not args.no_3d:
        view3d = VolumeView(rw)
        view3d.set_volume(vol)
        t0 = time.perf_counter()
        view3d.render()
        first = time.perf_counter() - t0
        view3d.set_interactive(True)
        inter = fps_loop(lambda _i: view3d.rotate(azimuth=5), args.seconds)
        view3d.set_interactive(False)
        still = fps_loop(lambda _i: view3d.rotate(azimuth=5), args.seconds)
        print(
            f"3D ({view3d.mapper_kind} mapper, preset {view3d.preset}): first frame {first:.2f} s, "
            f"interactive {inter:.1f} fps ({1000 / inter:.0f} ms), still {still:.1f} fps "
            f"({1000 / still:.0f} ms), x{inter / still:.1f}"
        )
        view3d.dispose()
    rw.Finalize()


if __name__ == "__main__":
    main()
