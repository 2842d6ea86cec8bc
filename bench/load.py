"""Benchmark: loading a 512x512x300 CT series — MedLens vs SimpleITK vs a naive pydicom loop.

Run as ``.venv/bin/python bench/load.py``. The series is built from real chest CT pixels (the
pyradiomics lung1 volume of the sample study, its 48 slices mirrored back and forth to 300) with
MedLens's own DICOM writer, into a temporary folder. Every reader runs 3 times with a warm page
cache and the best time counts. Peak memory is measured in a fresh child process that only runs
the MedLens load, as (peak RSS - RSS before loading) / volume bytes.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_SLICES = 300


def _lung1_nrrd(work: Path) -> Path:
    try:
        from medlens.sample import ensure_sample_study

        return ensure_sample_study().image_nrrd
    except Exception as exc:  # no cache and no registry: fetch the sdist ourselves
        print(f"sample study unavailable ({exc}); fetching the pyradiomics sdist", file=sys.stderr)
        import tarfile

        from medlens.sample import fetch_sdist

        sdist = fetch_sdist(work / "dl")
        with tarfile.open(sdist, "r:gz") as tar:
            member = tar.extractfile("pyradiomics-3.0.1/data/lung1_image.nrrd")
            assert member is not None
            out = work / "lung1_image.nrrd"
            out.write_bytes(member.read())
        return out


def build_series(work: Path) -> Path:
    import SimpleITK as sitk

    from medlens.viewer.io.dicom_write import SeriesIdentity, write_dicom_series
    from medlens.viewer.model import Geometry, Volume, VolumeMeta

    image = sitk.ReadImage(str(_lung1_nrrd(work)))
    src = sitk.GetArrayFromImage(image)
    period = 2 * src.shape[0] - 2
    idx = np.arange(N_SLICES) % period
    idx = np.where(idx < src.shape[0], idx, period - idx)
    spacing = (*image.GetSpacing()[:2], 1.0)
    volume = Volume(src[idx], Geometry(spacing, image.GetOrigin(), image.GetDirection()),
                    VolumeMeta(modality="CT", window=(-600.0, 1500.0)))
    out = work / "ct300"
    write_dicom_series(volume, out, SeriesIdentity(seed="medlens-bench", series_description="bench"))
    return out


def best_of(fn, n: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def run_medlens(folder: Path) -> dict[str, float]:
    from medlens.viewer import io as vio

    marks: dict[str, float] = {}
    t0 = time.perf_counter()
    result = vio.scan(folder)
    marks["scan"] = time.perf_counter() - t0

    def first(_volume) -> None:
        marks["first_slice"] = time.perf_counter() - t0

    volume = vio.load_series(result.series[0], on_first_slice=first)
    marks["total"] = time.perf_counter() - t0
    marks["volume"] = volume  # type: ignore[assignment]
    return marks


def run_sitk(folder: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def run_naive(folder: Path) -> np.ndarray:
    import pydicom

    return np.stack([pydicom.dcmread(f).pixel_array for f in sorted(folder.iterdir())])


def _peak_rss() -> int:
    """High-water RSS of this process. VmHWM, not ru_maxrss: the latter survives exec, so a child
    started from a big parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def child(folder: Path) -> None:
    """Peak-memory probe: import, measure RSS, load once, report the peak."""
    import psutil

    from medlens.viewer import io as vio

    base = psutil.Process().memory_info().rss
    result = vio.scan(folder)
    volume = vio.load_series(result.series[0])
    peak = _peak_rss()
    print(json.dumps({"base": base, "peak": peak, "nbytes": volume.nbytes}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the generated series")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    import SimpleITK as sitk

    work = Path(tempfile.mkdtemp(prefix="medlens-bench-"))
    try:
        t0 = time.perf_counter()
        folder = build_series(work)
        print(f"built {N_SLICES} slices of 512x512 in {time.perf_counter() - t0:.1f} s at {folder}")
        run_medlens(folder)  # warm the page cache and imports for everyone
        run_sitk(folder)
        t_med, marks = best_of(lambda: run_medlens(folder))
        firsts = [run_medlens(folder) for _ in range(3)]
        t_sitk, image = best_of(lambda: run_sitk(folder))
        t_naive, naive = best_of(lambda: run_naive(folder))
        volume = marks["volume"]  # type: ignore[index]
        same = np.array_equal(volume.array, sitk.GetArrayViewFromImage(image))
        geo = volume.geometry.allclose(type(volume.geometry)(image.GetSpacing(), image.GetOrigin(),
                                                              image.GetDirection()))
        proc = subprocess.run([sys.executable, __file__, "--child", str(folder)], capture_output=True,
                              text=True, check=True)
        mem = json.loads(proc.stdout.strip().splitlines()[-1])
        scan_best = min(f["scan"] for f in firsts)
        first_best = min(f["first_slice"] for f in firsts)
        print(f"volume: {volume.shape_xyz} {volume.array.dtype}, {volume.nbytes / 2**20:.0f} MiB; "
              f"identical to SimpleITK: values {same}, geometry {geo}")
        print(f"MedLens scan+load   : {t_med:.3f} s  (header scan {scan_best:.3f} s, "
              f"first slice after {first_best:.3f} s)")
        print(f"SimpleITK           : {t_sitk:.3f} s  -> MedLens/SimpleITK = {t_med / t_sitk:.2f}x "
              f"(goal <= 1.0x)")
        print(f"naive pydicom loop  : {t_naive:.3f} s  -> speed-up {t_naive / t_med:.1f}x (goal >= 3x)")
        ratio = (mem["peak"] - mem["base"]) / mem["nbytes"]
        print(f"peak RSS during load: {(mem['peak'] - mem['base']) / 2**20:.0f} MiB above "
              f"{mem['base'] / 2**20:.0f} MiB baseline = {ratio:.2f}x volume bytes (goal <= 2.5x)")
        del naive
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
