"""Building a :class:`Volume` while its instances are still arriving from the PACS.

Why from headers first: the series' headers (WADO-RS metadata or a C-FIND at IMAGE level) arrive in
one round trip, long before the pixels. Laid out with the study reader's own rules
(:func:`medlens.viewer.io.dicom_series.build_series`: same sort, geometry, dtype and metadata as
opening the cached folder later), they give the whole array up front; each instance then fills
its slice in place from whichever worker thread received it, and the viewer draws what is there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..viewer.io.dicom_headers import header_from_dataset
from ..viewer.io.dicom_series import build_series, is_stack_slice
from ..viewer.io.pixel_loader import LoadPlan, Slot
from ..viewer.model import Volume
from .errors import PacsUnreachable

_INT16 = (-32768, 32767)
_NATIVE_LE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}


def check_whole(ds: Any) -> None:
    """Raise :class:`PacsUnreachable` when ``ds``'s native pixel data is shorter than its header says.

    Why: when a connection is cut inside a multipart part, ``dicomweb-client`` still hands over
    what it got, and pydicom parses a truncated Pixel Data without complaint; such an instance must
    never reach the cache, or a resume would trust it.
    """
    if "PixelData" not in ds or getattr(ds["PixelData"], "is_undefined_length", False):
        return  # encapsulated: a cut inside the fragments fails in pydicom's parser instead
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", ""))
    if ts and ts not in _NATIVE_LE | {"1.2.840.10008.1.2.2"}:
        return
    bits = int(ds.get("BitsAllocated", 16))
    n = (
        int(ds.get("Rows", 0))
        * int(ds.get("Columns", 0))
        * int(ds.get("SamplesPerPixel", 1))
        * int(ds.get("NumberOfFrames", 1) or 1)
    )
    need = (n * bits + 7) // 8
    have = len(ds.PixelData or b"")
    if have < need:
        raise PacsUnreachable(
            f"instance {ds.get('SOPInstanceUID', '?')} arrived truncated ({have} of {need} "
            "pixel bytes): the connection was cut"
        )


class NotAssemblable(Exception):  # noqa: N818 - a condition, not a failure
    """The series is not one regular stack (SEG, SR, mixed geometries): no progressive volume."""


def stored_pixels(ds: Any) -> np.ndarray:
    """Stored values of a single-frame instance; native 16-bit data without a copy."""
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", ""))
    bits = int(ds.get("BitsAllocated", 16))
    if (
        ts in _NATIVE_LE
        and bits == 16
        and int(ds.get("BitsStored", 16)) == 16
        and int(ds.get("SamplesPerPixel", 1)) == 1
        and "PixelData" in ds
    ):
        dtype = "<i2" if int(ds.get("PixelRepresentation", 0)) == 1 else "<u2"
        n = int(ds.Rows) * int(ds.Columns)
        return np.frombuffer(ds.PixelData, dtype=dtype, count=n).reshape(int(ds.Rows), int(ds.Columns))
    arr = ds.pixel_array
    if arr.ndim == 3 and int(ds.get("SamplesPerPixel", 1)) == 3:
        arr = np.rint(arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    return arr


class SeriesAssembler:
    """The volume of one series, filled slice by slice as instances arrive (thread-safe)."""

    def __init__(self, headers: list[Any], file_for: Callable[[str], Path]) -> None:
        stack = [
            h for h in headers if is_stack_slice(header_from_dataset(file_for(str(h.SOPInstanceUID)), h))
        ]
        if not stack or len(stack) != len(headers):
            raise NotAssemblable("not a stack of single-frame slices")
        infos, _errors = build_series(
            [header_from_dataset(file_for(str(h.SOPInstanceUID)), h) for h in stack]
        )
        if len(infos) != 1 or not isinstance(infos[0].frames, LoadPlan):
            raise NotAssemblable("series holds several geometries")
        self.info = infos[0]
        self.plan: LoadPlan = infos[0].frames
        meta = replace(
            self.plan.meta,
            warnings=list(self.plan.meta.warnings),
            sop_instance_uids=list(self.plan.meta.sop_instance_uids),
            source_files=list(self.plan.meta.source_files),
            complete=False,
        )
        n = len(self.plan.slots)
        self.volume = Volume(
            np.zeros((n, self.plan.rows, self.plan.cols), self.plan.dtype), self.plan.geometry, meta
        )
        self._index = {uid: k for k, uid in enumerate(meta.sop_instance_uids) if uid}
        self._filled = np.zeros(n, bool)
        self._lock = threading.Lock()
        self.overflow = False  # a slice left int16 after rescale: the caller reloads as float32

    @property
    def slice_order(self) -> list[str]:
        """SOP UIDs middle-first, then outwards: the order worth fetching them in."""
        uids = self.volume.meta.sop_instance_uids
        mid = len(uids) // 2
        order = sorted(range(len(uids)), key=lambda k: (abs(k - mid), k))
        return [uids[k] for k in order if uids[k]]

    @property
    def n_filled(self) -> int:
        return int(self._filled.sum())

    @property
    def n_expected(self) -> int:
        return len(self._index)

    def add(self, ds: Any) -> bool:
        """Decode ``ds`` into its slice; False when it belongs to no slot (or overflowed int16)."""
        k = self._index.get(str(ds.SOPInstanceUID))
        if k is None:
            return False
        slot = self.plan.slots[k]
        assert slot is not None
        ok = self._convert(stored_pixels(ds), self.volume.array[k], slot)
        with self._lock:
            self._filled[k] = ok
        return ok

    def _convert(self, stored: np.ndarray, out: np.ndarray, slot: Slot) -> bool:
        slope, intercept, mirror = slot.slope, slot.intercept, self.plan.mirror
        if out.dtype == np.int16:
            if slope == 1 and intercept == 0 and stored.dtype == np.int16 and mirror is None:
                out[...] = stored
                return True
            values = stored.astype(np.int32)
            if slope != 1:
                values *= int(slope)
            if intercept:
                values += int(intercept)
            if mirror is not None:
                np.subtract(int(mirror), values, out=values)
            if self.plan.check_range and (values.min() < _INT16[0] or values.max() > _INT16[1]):
                self.overflow = True
                return False
            out[...] = values
        else:
            np.multiply(stored, np.float32(slope), out=out, casting="unsafe")
            if intercept:
                out += np.float32(intercept)
            if mirror is not None:
                np.subtract(np.float32(mirror), out, out=out)
        return True

    def finish(self) -> Volume:
        """Mark the volume complete, or say in its warnings how much is missing."""
        meta = self.volume.meta
        missing = self.n_expected - self.n_filled
        if missing:
            meta.complete = False
            meta.warnings.append(
                f"incomplete: {self.n_filled} of {self.n_expected} slices received "
                "from the PACS; retrieve again to resume"
            )
        else:
            meta.complete = True
        return self.volume


__all__ = ["NotAssemblable", "SeriesAssembler", "stored_pixels"]
