"""The bundled sample study: real chest CT and brain MR from the pyradiomics 3.0.1 source package.

Why this way: no labelled study can be downloaded from a hub at run time, but PyPI ships the
pyradiomics sdist (BSD-3) with real NRRD volumes and lesion masks inside. Set-up (``make demo`` /
``make test``, or ``python -m medlens.sample``) fetches that one file through pip (so a user's pip
index or mirror is honoured), checks its sha256, extracts the volumes into the user cache and
converts them to DICOM series, which is what a radiologist opens. The viewer itself never touches
the network: at run time it only reads the cache.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SDIST_NAME = "pyradiomics-3.0.1.tar.gz"
SDIST_SHA256 = "47c57f441d6cb7973fa3b2ea48d3948df78e3348e1c69e1e2ff19001601fc2f5"
_MEMBERS = ("lung1_image", "lung1_label", "lung2_image", "lung2_label",
            "brain1_image", "brain1_label", "brain2_image", "brain2_label")
_LAYOUT_VERSION = "1"  # bump when the converted layout changes, so caches are rebuilt


@dataclass
class SampleStudy:
    """Paths of the prepared sample data."""

    root: Path
    dicom_root: Path  # every sample series (chest CT + brain MR), as a study folder opens it
    dicom_dir: Path  # the chest CT series alone (lung1): the demo's main study
    image_nrrd: Path  # the same chest CT as NRRD (HU)
    label_nrrd: Path  # its real nodule mask
    volumes: dict[str, Path] = field(default_factory=dict)  # every extracted NRRD by stem


def cache_root() -> Path:
    """Where prepared data lives: ``$MEDLENS_CACHE_DIR`` or the platform's user cache folder."""
    env = os.environ.get("MEDLENS_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("medlens"))


def _layout(root: Path) -> SampleStudy:
    nrrd = root / "nrrd"
    return SampleStudy(
        root=root,
        dicom_root=root / "dicom",
        dicom_dir=root / "dicom" / "chest_ct",
        image_nrrd=nrrd / "lung1_image.nrrd",
        label_nrrd=nrrd / "lung1_label.nrrd",
        volumes={m: nrrd / f"{m}.nrrd" for m in _MEMBERS},
    )


BUNDLE_DATA_DIR = "medlens_data"  # the data folder of a frozen (PyInstaller) build: sample/, plugins/


def bundle_data_dir() -> Path | None:
    """The data folder shipped inside a frozen build, or None when running from an installed package.

    PyInstaller puts it in ``sys._MEIPASS`` (``_internal/`` of a one-folder build, ``Contents/
    Frameworks`` or ``Resources`` of a macOS ``.app``); other freezers put it next to the executable.
    """
    if not getattr(sys, "frozen", False):
        return None
    exe_dir = Path(sys.executable).resolve().parent
    meipass = getattr(sys, "_MEIPASS", None)
    bases = [Path(meipass)] if meipass else []
    bases += [exe_dir, exe_dir.parent / "Resources"]  # macOS .app: Contents/MacOS/../Resources
    for base in bases:
        if (base / BUNDLE_DATA_DIR).is_dir():
            return base / BUNDLE_DATA_DIR
    return None


def bundled_sample_study() -> SampleStudy | None:
    """The read-only sample study inside a frozen build (copied there by ``packaging/prepare.py``)."""
    data = bundle_data_dir()
    if data is None:
        return None
    study = _layout(data / "sample")
    return study if (study.root / f".complete-{_LAYOUT_VERSION}").exists() else None


def sample_study_if_ready() -> SampleStudy | None:
    """The prepared sample, or None when set-up has not built it (never downloads).

    A frozen build's own copy comes first: an installed app has no pip to fetch the sdist with.
    """
    bundled = bundled_sample_study()
    if bundled is not None:
        return bundled
    study = _layout(cache_root() / "sample")
    return study if (study.root / f".complete-{_LAYOUT_VERSION}").exists() else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_sdist(dest: Path) -> Path:
    """Download the pyradiomics sdist with pip (registry only) and verify its checksum."""
    target = dest / SDIST_NAME
    if not (target.exists() and _sha256(target) == SDIST_SHA256):
        dest.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
               "--no-binary", ":all:", "-q", "-d", str(dest), "pyradiomics==3.0.1"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not target.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise RuntimeError("could not fetch the pyradiomics sample data with pip: " + " | ".join(tail))
    digest = _sha256(target)
    if digest != SDIST_SHA256:
        raise RuntimeError(f"{target} has sha256 {digest}, expected {SDIST_SHA256}; refusing to use it")
    return target


def _extract_nrrds(sdist: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist, "r:gz") as tar:
        for member in _MEMBERS:
            info = tar.getmember(f"pyradiomics-3.0.1/data/{member}.nrrd")
            src = tar.extractfile(info)
            if src is None:
                raise RuntimeError(f"{member}.nrrd missing from {sdist}")
            with src, (out / f"{member}.nrrd").open("wb") as dst:
                shutil.copyfileobj(src, dst)


def _convert_to_dicom(study: SampleStudy) -> None:
    import SimpleITK as sitk

    from .viewer.io.dicom_write import SeriesIdentity, write_dicom_series
    from .viewer.model import Volume, VolumeMeta

    series = [
        ("lung1_image", "chest_ct", SeriesIdentity(
            patient_name="SAMPLE^CHEST", patient_id="MEDLENS-LUNG1", study_date="20200101",
            study_description="CT CHEST (sample, pyradiomics lung1)", series_description="Chest CT 5 mm",
            series_number=2, modality="CT", body_part="CHEST", seed="medlens-sample-lung1"),
            (-600.0, 1500.0)),
        ("brain1_image", "brain_mr", SeriesIdentity(
            patient_name="SAMPLE^BRAIN", patient_id="MEDLENS-BRAIN1", study_date="20200102",
            study_description="MR BRAIN (sample, pyradiomics brain1)", series_description="T1 axial",
            series_number=3, modality="MR", body_part="HEAD", seed="medlens-sample-brain1"), None),
    ]
    for stem, folder, ident, window in series:
        image = sitk.ReadImage(str(study.volumes[stem]))
        volume = Volume.from_sitk(image, VolumeMeta(modality=ident.modality, window=window))
        write_dicom_series(volume, study.dicom_root / folder, ident)


def ensure_sample_study(download: bool = True) -> SampleStudy:
    """Build the sample study in the cache if it is not there yet, and return its paths."""
    ready = sample_study_if_ready()
    if ready is not None:
        return ready
    if not download:
        raise RuntimeError("the sample study is not prepared; run `make demo` or `python -m medlens.sample`")
    if getattr(sys, "frozen", False):  # sys.executable is the app itself here: there is no pip to run
        raise RuntimeError("this MedLens build carries no sample study (its medlens_data/sample is missing)")
    root = cache_root() / "sample"
    root.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the final place and swap in at the end, so a killed set-up never leaves a
    # half-written sample that looks ready (the marker file is written last).
    staging = Path(tempfile.mkdtemp(prefix="sample.tmp-", dir=root.parent))
    try:
        study = _layout(staging)
        sdist = fetch_sdist(cache_root() / "downloads")
        _extract_nrrds(sdist, staging / "nrrd")
        _convert_to_dicom(study)
        (staging / f".complete-{_LAYOUT_VERSION}").write_text("ok\n")
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _layout(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medlens.sample", description=__doc__.splitlines()[0])
    parser.add_argument("--print", choices=("root", "dicom", "ct"), default="root",
                        help="which path to print once ready")
    args = parser.parse_args(argv)
    try:
        study = ensure_sample_study()
    except Exception as exc:
        print(f"medlens: {exc}", file=sys.stderr)
        return 1
    print({"root": study.root, "dicom": study.dicom_root, "ct": study.dicom_dir}[args.print])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
