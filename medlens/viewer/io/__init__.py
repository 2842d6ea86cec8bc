"""Reading studies: DICOM series (classic, enhanced, 2D; folders, zips, DICOMDIR) and NIfTI/NRRD/MHA.

The app, CLI and GUI code against exactly the names in ``__all__``. Typical use::

    result = scan(folder)                  # headers only: what the study browser lists
    volume = load_series(result.series[0], on_first_slice=show)   # progressive, middle slice first

Geometry follows SimpleITK (see :mod:`medlens.viewer.model`) and is tested against its
``ImageSeriesReader`` on every test series.
"""

from __future__ import annotations

from .errors import LoadCancelled, LoadError
from .image_files import read_image_file, write_image_file
from .loading import load, load_series
from .scan import scan
from .series_info import ScanResult, SeriesInfo
from .thumbnail import thumbnail

__all__ = [
    "LoadCancelled",
    "LoadError",
    "ScanResult",
    "SeriesInfo",
    "load",
    "load_series",
    "read_image_file",
    "scan",
    "thumbnail",
    "write_image_file",
]
