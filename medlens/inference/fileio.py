"""Reading inputs and writing results for the command line.

Goes through ``medlens.viewer.io.load`` when the viewer's I/O package provides it (DICOM series with
full metadata), and falls back to SimpleITK directly otherwise; this is the one place to switch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medlens.inference.errors import InferenceError
from medlens.viewer.model import Geometry, Volume, VolumeMeta, array_to_sitk


def read_volume(path: Path | str) -> Volume:
    """A volume from a NIfTI/NRRD/MHA file or a DICOM folder; modality filled in where the file says."""
    path = Path(path)
    if not path.exists():
        raise InferenceError(f"{path} does not exist")
    try:
        from medlens.viewer import io as viewer_io

        loader = getattr(viewer_io, "load", None)
        if loader is not None:
            loaded = loader(path)
            if isinstance(loaded, Volume):
                return loaded
    except InferenceError:
        raise
    except Exception:  # the viewer's reader is optional here; SimpleITK below covers the formats we write
        pass
    try:
        if path.is_dir():
            reader = sitk.ImageSeriesReader()
            files = reader.GetGDCMSeriesFileNames(str(path))
            if not files:
                raise InferenceError(f"{path} holds no DICOM series")
            reader.SetFileNames(files)
            reader.MetaDataDictionaryArrayUpdateOn()
            image = reader.Execute()
            modality = (
                reader.GetMetaData(0, "0008|0060").strip() if reader.HasMetaDataKey(0, "0008|0060") else ""
            )
        else:
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(path))
            image = reader.Execute()
            modality = reader.GetMetaData("0008|0060").strip() if reader.HasMetaDataKey("0008|0060") else ""
    except RuntimeError as exc:
        raise InferenceError(f"cannot read {path}: {str(exc).strip().splitlines()[-1]}") from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        image = sitk.VectorIndexSelectionCast(image, 0)
    return Volume.from_sitk(image, VolumeMeta(modality=modality, source_files=[str(path)]))


def write_array(array: np.ndarray, geometry: Geometry, path: Path | str) -> None:
    """Write a (z, y, x) array with its geometry; the format follows the suffix (.nii.gz, .nrrd, ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        sitk.WriteImage(array_to_sitk(array, geometry), str(path), useCompression=True)
    except RuntimeError as exc:
        raise InferenceError(f"cannot write {path}: {str(exc).strip().splitlines()[-1]}") from exc
