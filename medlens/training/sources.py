"""The real volumes that install offline (see ``/work/shared/DATA.md``), loaded the same way everywhere.

Why one module: the leave-one-case-out evaluation is only honest if every script builds the folds
from the same list of sources with the same preprocessing; a second loader would silently differ.

All arrays are ``(z, y, x)`` float32 in LPS orientation (SimpleITK ``DICOMOrient("LPS")``), i.e. row 0
is anterior and column 0 is the patient's right, as an axial slice is displayed. CT is in HU, MR in
scanner units.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

CASES = ("lung1", "lung2", "brain1", "brain2")
CT_CASES = ("lung1", "lung2")
MR_CASES = ("brain1", "brain2")
MRICRON_TEMPLATES = Path("/usr/share/mricron/templates")


class SourceMissingError(RuntimeError):
    """A data source of DATA.md is not installed here (tests skip on it, scripts explain it)."""


@dataclass
class Scan:
    """One volume with what the trainers need; ``spacing`` is (x, y, z) mm like SimpleITK."""

    name: str
    modality: str  # "CT" or "MR"
    image: np.ndarray  # (z, y, x) float32
    spacing: tuple[float, float, float]
    label: np.ndarray | None = None  # real lesion mask (uint8), when the source has one
    organ: np.ndarray | None = None  # bool: lungs (CT) or brain (MR), where lesions may be placed
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.image.shape)  # type: ignore[return-value]


def _lps(image: sitk.Image) -> sitk.Image:
    return sitk.DICOMOrient(image, "LPS")


def _read(path: Path | str) -> sitk.Image:
    return _lps(sitk.ReadImage(str(path)))


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image).astype(np.float32)


def sample_paths() -> dict[str, Path]:
    """NRRD paths of the pyradiomics cases; raises :class:`SourceMissingError` when set-up has not run."""
    from medlens.sample import sample_study_if_ready

    study = sample_study_if_ready()
    if study is None:
        raise SourceMissingError("the pyradiomics sample study is not built (run `make sample`)")
    return study.volumes


@functools.lru_cache(maxsize=8)
def load_case(name: str) -> Scan:
    """A pyradiomics case (``lung1``, ``lung2``, ``brain1``, ``brain2``) with its real lesion mask."""
    if name not in CASES:
        raise ValueError(f"unknown case {name!r}; expected one of {CASES}")
    paths = sample_paths()
    image = _read(paths[f"{name}_image"])
    label = _read(paths[f"{name}_label"])
    modality = "CT" if name in CT_CASES else "MR"
    return Scan(
        name,
        modality,
        _array(image),
        image.GetSpacing(),
        label=(sitk.GetArrayFromImage(label) > 0).astype(np.uint8),
        extra={"sitk": image},
    )


@functools.lru_cache(maxsize=2)
def load_colin27() -> Scan:
    """Colin27 ``ch2`` whole-head T1 (1 mm) with ``ch2bet`` as its brain mask (Debian mricron-data)."""
    head, bet = MRICRON_TEMPLATES / "ch2.nii.gz", MRICRON_TEMPLATES / "ch2bet.nii.gz"
    if not head.is_file() or not bet.is_file():
        raise SourceMissingError("Colin27 templates missing: `apt-get install mricron-data`")
    image = _read(head)
    brain = _array(_read(bet)) > 0
    return Scan("colin27", "MR", _array(image), image.GetSpacing(), organ=brain)


@functools.lru_cache(maxsize=2)
def load_mni152() -> Scan:
    """The nilearn MNI152 2009 T1 template (1 mm, skull-stripped) with its brain mask."""
    try:
        from nilearn import datasets
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SourceMissingError("nilearn is not installed (`pip install nilearn`)") from exc
    import tempfile

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, img in enumerate(
            (datasets.load_mni152_template(resolution=1), datasets.load_mni152_brain_mask(resolution=1))
        ):
            path = Path(tmp) / f"mni{i}.nii.gz"
            img.to_filename(str(path))
            out.append(_read(path))
    return Scan("mni152", "MR", _array(out[0]), out[0].GetSpacing(), organ=_array(out[1]) > 0.5)


@functools.lru_cache(maxsize=2)
def load_head_ct_slice() -> Scan:
    """The real head CT slice ``693_UNCI.dcm`` of pydicom-data, in HU (one slice, 0.48 mm, 5 mm)."""
    try:
        import pydicom
        from pydicom.data import get_testdata_file

        path = get_testdata_file("693_UNCI.dcm")
    except Exception as exc:  # pragma: no cover
        raise SourceMissingError(f"pydicom-data head CT unavailable: {exc}") from exc
    if path is None:
        raise SourceMissingError("pydicom-data is not installed (`pip install pydicom-data`)")
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    sx, sy = (float(v) for v in ds.PixelSpacing)
    return Scan("headct693", "CT", hu[None], (sy, sx, float(ds.SliceThickness)))


# -- the working grid of the lesion models ------------------------------------------------------------
def resample_inplane(
    array: np.ndarray, spacing: tuple[float, float, float], target: float, *, is_mask: bool = False
) -> np.ndarray:
    """Resample every axial slice to ``target`` mm (linear; masks via linear + 0.5 threshold).

    Done with SimpleITK exactly as ``medlens.inference.preprocess.resample_to_model`` does for a 2D
    plugin (same size rounding, same origin), so training crops match what the plugin sees.
    """
    image = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=np.float32))
    image.SetSpacing(tuple(float(s) for s in spacing))
    new_spacing = (target, target, float(spacing[2]))
    size = [max(1, round(n * s / t)) for n, s, t in zip(image.GetSize(), spacing, new_spacing, strict=True)]
    out = sitk.Resample(
        image, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(), new_spacing,
        image.GetDirection(), 0.0, sitk.sitkFloat32,
    )
    result = sitk.GetArrayFromImage(out)
    return (result > 0.5) if is_mask else result


def thick_slices(array: np.ndarray, n: int, *, is_mask: bool = False) -> np.ndarray:
    """Average ``n`` consecutive thin slices into one thick slice (partial-volume effect in z).

    Why: the real MR cases have 6.5 mm slices; Colin27 / MNI152 are 1 mm. Averaging 6-7 slices gives
    the same through-plane blur, so a model does not learn a sharpness it will never see.
    """
    nz = (array.shape[0] // n) * n
    out = array[:nz].reshape(nz // n, n, *array.shape[1:]).mean(axis=1)
    return (out > 0.5) if is_mask else out.astype(np.float32)


def to_working_grid(scan: Scan, inplane_mm: float = 1.0, slice_mm: float | None = None) -> Scan:
    """The scan on the lesion models' grid: ``inplane_mm`` pixels, thin sources thickened to ``slice_mm``."""
    image, label, organ = scan.image, scan.label, scan.organ
    sz = float(scan.spacing[2])
    if slice_mm is not None and sz < slice_mm * 0.5:
        n = max(1, round(slice_mm / sz))
        image = thick_slices(image, n)
        label = None if label is None else thick_slices(label.astype(np.float32), n, is_mask=True)
        organ = None if organ is None else thick_slices(organ.astype(np.float32), n, is_mask=True)
        sz *= n
    spacing = (float(scan.spacing[0]), float(scan.spacing[1]), sz)
    out_image = resample_inplane(image, spacing, inplane_mm)
    out_label = None if label is None else resample_inplane(label, spacing, inplane_mm, is_mask=True)
    out_organ = None if organ is None else resample_inplane(organ, spacing, inplane_mm, is_mask=True)
    return Scan(
        scan.name,
        scan.modality,
        out_image,
        (inplane_mm, inplane_mm, sz),
        label=None if out_label is None else out_label.astype(np.uint8),
        organ=out_organ,
    )
