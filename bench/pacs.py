"""Benchmark: retrieve a 300-slice 512² CT series from a local Orthanc into a Volume.

Compares, in one run against the same server:

* baseline — a plain ``dicomweb-client`` ``retrieve_series`` loop, sorted and stacked into a Volume;
* MedLens over WADO-RS (parallel instance fetch + decode, atomic cache writes, progressive volume);
* MedLens over C-GET (pynetdicom, TCP_NODELAY, decode pool).

Prints the median wall time of each until every slice is in the displayed volume and until it is
also in the cache, the ratios to the baseline (goal ≥ 1.5×) and the time to the first displayable
slice. Orthanc listens on every interface, so this must run inside a
private loopback-only network namespace; from the repository root::

    unshare -n sh -c 'ip link set lo up && .venv/bin/python bench/pacs.py'

Options: ``--slices N`` (300), ``--size N`` (512), ``--repeats N`` (3).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from medlens.pacs.backend import connect
from medlens.pacs.config import ServerConfig
from medlens.pacs.orthanc import CLIENT_AET, LocalOrthanc, free_port, unavailable_reason
from medlens.pacs.retrieve import retrieve_series
from medlens.viewer.io.dicom_write import SeriesIdentity, write_dicom_series
from medlens.viewer.model import Geometry, Volume, VolumeMeta


def make_series(out: Path, slices: int, size: int) -> list[Path]:
    """A synthetic CT (smooth anatomy-like blobs plus noise) written as classic DICOM."""
    rng = np.random.default_rng(0)
    z, y, x = np.ogrid[:slices, :size, :size]
    body = ((y - size / 2) ** 2 + (x - size / 2) ** 2) < (0.42 * size) ** 2
    arr = np.where(body, 40, -1000).astype(np.int16) + (z % 50).astype(np.int16)
    arr = arr + rng.integers(-20, 20, size=arr.shape, dtype=np.int16)
    vol = Volume(arr, Geometry((0.7, 0.7, 1.25), (-180.0, -180.0, -300.0)), VolumeMeta(modality="CT"))
    ident = SeriesIdentity(
        patient_name="BENCH^PACS",
        patient_id="BENCH1",
        series_description="bench CT",
        seed="medlens-bench-pacs",
    )
    return write_dicom_series(vol, out, ident)


def baseline(url: str, auth: tuple[str, str] | None, study: str, series: str) -> Volume:
    """What a script would do with dicomweb-client alone."""
    import requests
    from dicomweb_client.api import DICOMwebClient

    session = requests.Session()
    session.auth = auth
    client = DICOMwebClient(url=url, session=session)
    datasets = client.retrieve_series(study, series)
    normal = np.cross(
        np.array(datasets[0].ImageOrientationPatient[:3], float),
        np.array(datasets[0].ImageOrientationPatient[3:], float),
    )
    datasets.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, float), normal)))
    arr = np.stack(
        [d.pixel_array.astype(np.int32) * int(d.RescaleSlope) + int(d.RescaleIntercept) for d in datasets]
    ).astype(np.int16)
    return Volume(arr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    reason = unavailable_reason()
    if reason:
        print(f"bench/pacs.py: cannot run: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="medlens-bench-pacs-") as tmp_s:
        tmp = Path(tmp_s)
        t0 = time.perf_counter()
        files = make_series(tmp / "src", args.slices, args.size)
        print(f"wrote {len(files)} slices of {args.size}² in {time.perf_counter() - t0:.1f} s")
        move_port = free_port()
        with LocalOrthanc(
            root=tmp / "orthanc", users={"bench": "bench-secret"}, modalities={CLIENT_AET: move_port}
        ) as orthanc:
            server = ServerConfig(
                "bench",
                dicomweb_url=orthanc.dicomweb_url,
                ae_title=orthanc.aet,
                host="127.0.0.1",
                port=orthanc.dicom_port,
                auth="basic",
                username="bench",
            )
            dimse = connect(server, protocol="dimse")
            web = connect(server, "bench-secret", protocol="dicomweb")
            t0 = time.perf_counter()
            dimse.store(files)
            dt = time.perf_counter() - t0
            print(f"C-STORE upload (TCP_NODELAY both ends): {len(files) / dt:.0f} slices/s")
            import pydicom

            first = pydicom.dcmread(files[0], stop_before_pixels=True)
            study, series = str(first.StudyInstanceUID), str(first.SeriesInstanceUID)
            raw_mb = sum(f.stat().st_size for f in files) / 1e6

            times: dict[str, list[float]] = {"baseline": [], "wado": [], "cget": []}
            firsts: dict[str, list[float]] = {"wado": [], "cget": []}
            shown: dict[str, list[float]] = {"wado": [], "cget": []}  # every slice in the volume
            reference: np.ndarray | None = None
            for rep in range(args.repeats):
                t0 = time.perf_counter()
                vol = baseline(orthanc.dicomweb_url, orthanc.auth, study, series)
                times["baseline"].append(time.perf_counter() - t0)
                reference = vol.array
                for name, backend in (("wado", web), ("cget", dimse)):
                    cache = tmp / f"cache-{name}-{rep}"
                    seen: list[float] = []
                    full: list[float] = []
                    t0 = time.perf_counter()

                    def progress(done: int, total: int, t0: float = t0, full: list[float] = full) -> None:
                        if done == total and not full:
                            full.append(time.perf_counter() - t0)

                    res = retrieve_series(
                        backend,
                        study,
                        series,
                        cache,
                        progress=progress,
                        on_first_slice=lambda _v, t0=t0, seen=seen: seen.append(time.perf_counter() - t0),
                    )
                    times[name].append(time.perf_counter() - t0)
                    firsts[name].append(seen[0] if seen else float("nan"))
                    shown[name].append(full[0] if full else float("nan"))
                    assert res.volume is not None and res.complete
                    if not np.array_equal(res.volume.array, reference):
                        print(f"ERROR: {name} volume differs from the baseline", file=sys.stderr)
                        return 1
            n = args.slices
            base = statistics.median(times["baseline"])
            print(
                f"\nseries: {n} slices of {args.size}², {raw_mb:.0f} MB on the wire; median of {args.repeats}"
            )
            print("'all shown': every slice is in the displayed volume; 'done': also written to the cache")
            ratio = "× baseline"
            print(f"{'method':<24}{'all shown s':>12}{ratio:>11}{'done s':>8}{ratio:>11}{'first s':>9}")
            loop = "dicomweb-client loop"
            print(f"{loop:<24}{base:>12.2f}{1.0:>11.2f}{base:>8.2f}{1.0:>11.2f}{base:>9.2f}")
            for name, label in (("wado", "MedLens WADO-RS"), ("cget", "MedLens C-GET")):
                t = statistics.median(times[name])
                f = statistics.median(firsts[name])
                a = statistics.median(shown[name])
                print(f"{label:<24}{a:>12.2f}{base / a:>11.2f}{t:>8.2f}{base / t:>11.2f}{f:>9.3f}")
            web.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
