"""Finding series in whatever the user points at: folders, zips, DICOMDIRs, single files.

Why it never raises for bad content: a study folder routinely holds things that are not images
(reports, SEG/SR objects, thumbnails, a stray PNG); those are counted as skipped, genuinely broken
files become one-line errors naming the file, and everything loadable is still listed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .dicom_2d import build_2d
from .dicom_enhanced import build_enhanced
from .dicom_headers import FrameHeader, NotDicomError, read_header
from .dicom_meta import non_image_reason
from .dicom_series import build_series, is_stack_slice
from .dicomdir import dicomdir_files, is_dicomdir
from .errors import LoadError, one_line
from .image_files import image_file_info, is_image_file
from .series_info import ScanResult, SeriesInfo
from .zip_input import FileRef, ZipMember, is_zip, ref_path, resolve_ref, zip_members

# Companions of image files and OS litter: not worth counting as "skipped".
_IGNORED_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}


def _expand(path: Path, result: ScanResult) -> list[FileRef]:
    """Every file to look at under ``path``."""
    if path.is_dir():
        refs: list[FileRef] = []
        for root, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(names):
                if name.lower() in _IGNORED_NAMES or name.startswith("._"):
                    continue
                child = Path(root) / name
                if is_zip(child):
                    refs.extend(zip_members(child))
                else:
                    refs.append(child)
        return refs
    if is_zip(path):
        return list(zip_members(path))
    if is_dicomdir(path):
        try:
            files, errors = dicomdir_files(path)
        except LoadError as exc:
            result.errors.append(str(exc))
            return []
        result.errors.extend(errors)
        return list(files)
    if path.is_file():
        return [path]
    member = resolve_ref(path)  # "archive.zip/inner/file.dcm"
    if isinstance(member, ZipMember):
        return [member]
    result.errors.append(one_line(path, "no such file or folder"))
    return []


def scan(path: str | Path | Sequence[str | Path]) -> ScanResult:
    """Find every loadable series under ``path`` (a folder, recursively; a .zip; a DICOMDIR; one
    or more files, including NIfTI/NRRD/MetaImage). Reads headers only."""
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    result = ScanResult()
    refs: list[FileRef] = []
    for p in paths:
        refs.extend(_expand(Path(p), result))
    seen: set[FileRef] = set()
    stack_slices: list[FrameHeader] = []
    singles: list[SeriesInfo] = []
    for ref in refs:
        if ref in seen:
            continue
        seen.add(ref)
        name = str(ref_path(ref))
        if isinstance(ref, Path) and is_image_file(name):
            try:
                singles.append(image_file_info(ref))
            except LoadError as exc:
                result.errors.append(str(exc))
            continue
        if is_dicomdir(ref) if isinstance(ref, Path) else ref.name.upper().endswith("DICOMDIR"):
            result.skipped_files += 1  # its referenced files are scanned as files of the folder
            result.skipped_paths.append(ref_path(ref))
            continue
        try:
            header = read_header(ref)
        except NotDicomError:
            result.skipped_files += 1
            result.skipped_paths.append(ref_path(ref))
            continue
        except Exception as exc:
            result.errors.append(one_line(name, f"unreadable DICOM header ({exc})"))
            continue
        reason = non_image_reason(header)
        if reason is not None:
            result.skipped_files += 1
            result.skipped_paths.append(ref_path(ref))
            result.errors.append(one_line(name, reason))
            continue
        try:
            if header.functional_groups:
                singles.append(build_enhanced(header, result.errors))
            elif is_stack_slice(header):
                stack_slices.append(header)
            else:
                singles.append(build_2d(header, result.errors))
        except Exception as exc:  # one odd object must not hide the rest of the study
            result.errors.append(one_line(name, f"cannot be used as an image ({exc})"))
    series, errors = build_series(stack_slices)
    result.errors.extend(errors)
    result.series = series + singles
    _unique_keys(result.series)
    result.series.sort(key=_series_order)
    return result


def _series_order(s: SeriesInfo) -> tuple:
    return (s.study_uid, s.series_number if s.series_number is not None else 1 << 30, s.description, s.key)


def _unique_keys(series: list[SeriesInfo]) -> None:
    used: dict[str, int] = {}
    for info in series:
        n = used.get(info.key, 0)
        used[info.key] = n + 1
        if n:
            info.key = f"{info.key}#{n + 1}"


__all__ = ["scan"]
