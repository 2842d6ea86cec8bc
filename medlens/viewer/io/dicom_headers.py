"""Fast DICOM header parsing: the handful of tags a viewer needs, and where the pixels start.

Why not just ``pydicom.dcmread``: for a 300-slice CT the header pass dominates load time in Python,
and pydicom builds a full dataset per file. Here a small walker reads the first few kilobytes of
each file, skips everything it does not need (sequences included, whatever their length encoding)
and stops at PixelData, recording the byte offset of its value so uncompressed pixels can later be
read straight into the output array. Anything unusual (big endian, deflate, no preamble, odd pixel
data) falls back to pydicom, so the fast path only has to be right, not complete; the test suite
checks both paths agree on pydicom's own test files.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .zip_input import FileRef, ZipMember, open_ref

# Transfer syntaxes whose data set the fast walker understands (all little endian).
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
UNCOMPRESSED = {IMPLICIT_LE, EXPLICIT_LE}
DEFLATED = "1.2.840.10008.1.2.1.99"
BIG_ENDIAN = "1.2.840.10008.1.2.2"

_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
_PIXEL_DATA = 0x7FE00010
_FLOAT_PIXEL_DATA = (0x7FE00008, 0x7FE00009)
_PER_FRAME_GROUPS = 0x52009230
_SHARED_GROUPS = 0x52009229
_UNDEFINED = 0xFFFFFFFF
_FIRST_ELEMENTS = (b"\x00\x00", b"\x01\x00", b"\x05\x00", b"\x08\x00", b"\x16\x00")

# tag -> (keyword, how to decode). Decoding always follows this table, not the file's VR, so
# implicit VR and "UN"-encoded elements read the same.
_WANTED: dict[int, tuple[str, str]] = {
    0x00020010: ("TransferSyntaxUID", "str"),
    0x00080005: ("SpecificCharacterSet", "str"),
    0x00080008: ("ImageType", "str"),
    0x00080016: ("SOPClassUID", "str"),
    0x00080018: ("SOPInstanceUID", "str"),
    0x00080020: ("StudyDate", "str"),
    0x00080060: ("Modality", "str"),
    0x00080080: ("InstitutionName", "text"),
    0x00081030: ("StudyDescription", "text"),
    0x0008103E: ("SeriesDescription", "text"),
    0x00100010: ("PatientName", "text"),
    0x00100020: ("PatientID", "text"),
    0x00100030: ("PatientBirthDate", "str"),
    0x00100040: ("PatientSex", "str"),
    0x00180015: ("BodyPartExamined", "str"),
    0x00180050: ("SliceThickness", "ds"),
    0x00180088: ("SpacingBetweenSlices", "ds"),
    0x00181120: ("GantryDetectorTilt", "ds"),
    0x00181164: ("ImagerPixelSpacing", "ds"),
    0x0020000D: ("StudyInstanceUID", "str"),
    0x0020000E: ("SeriesInstanceUID", "str"),
    0x00200011: ("SeriesNumber", "is"),
    0x00200013: ("InstanceNumber", "is"),
    0x00200032: ("ImagePositionPatient", "ds"),
    0x00200037: ("ImageOrientationPatient", "ds"),
    0x00200052: ("FrameOfReferenceUID", "str"),
    0x00280002: ("SamplesPerPixel", "us"),
    0x00280004: ("PhotometricInterpretation", "str"),
    0x00280006: ("PlanarConfiguration", "us"),
    0x00280008: ("NumberOfFrames", "is"),
    0x00280010: ("Rows", "us"),
    0x00280011: ("Columns", "us"),
    0x00280030: ("PixelSpacing", "ds"),
    0x00280100: ("BitsAllocated", "us"),
    0x00280101: ("BitsStored", "us"),
    0x00280102: ("HighBit", "us"),
    0x00280103: ("PixelRepresentation", "us"),
    0x00281050: ("WindowCenter", "ds"),
    0x00281051: ("WindowWidth", "ds"),
    0x00281052: ("RescaleIntercept", "ds"),
    0x00281053: ("RescaleSlope", "ds"),
    0x00281054: ("RescaleType", "str"),
}
_KEYWORD_TAG = {kw: tag for tag, (kw, _) in _WANTED.items()}


class NotDicomError(Exception):
    """The file is not a DICOM file at all (text, PNG, ...): skipped, not an error."""


class _NeedMoreError(Exception):
    """The header runs past the bytes read so far."""


class _UnsupportedError(Exception):
    """Something the fast walker does not handle; use pydicom."""


@dataclass
class FrameHeader:
    """The parsed header of one DICOM file (one slice, or one multi-frame object)."""

    ref: FileRef
    values: dict[str, Any]
    pixel_offset: int | None = None  # file offset of the PixelData value (native, fast path only)
    pixel_length: int | None = None  # its length; None for encapsulated (compressed) data
    has_pixels: bool = False
    encapsulated: bool = False
    functional_groups: bool = False
    file_size: int | None = None
    dataset: Any = field(default=None, repr=False)  # pydicom Dataset when the fallback parsed it

    # -- convenient typed accessors ---------------------------------------------------------
    def get(self, keyword: str, default: Any = None) -> Any:
        value = self.values.get(keyword)
        return default if value is None or value == "" or value == [] else value

    def text(self, keyword: str) -> str:
        value = self.values.get(keyword)
        if isinstance(value, list):
            return "\\".join(str(v) for v in value)
        return "" if value is None else str(value)

    def number(self, keyword: str, default: float | None = None) -> float | None:
        value = self.values.get(keyword)
        if isinstance(value, list):
            value = value[0] if value else None
        return default if value is None else float(value)

    def integer(self, keyword: str, default: int | None = None) -> int | None:
        value = self.number(keyword)
        return default if value is None else int(value)

    def vector(self, keyword: str, n: int) -> tuple[float, ...] | None:
        value = self.values.get(keyword)
        if isinstance(value, int | float):
            value = [value]
        if not value or len(value) < n:
            return None
        return tuple(float(v) for v in value[:n])

    @property
    def transfer_syntax(self) -> str:
        return self.text("TransferSyntaxUID")

    @property
    def sop_class(self) -> str:
        return self.text("SOPClassUID")

    @property
    def rows(self) -> int:
        return self.integer("Rows", 0) or 0

    @property
    def cols(self) -> int:
        return self.integer("Columns", 0) or 0

    @property
    def n_frames(self) -> int:
        return max(1, self.integer("NumberOfFrames", 1) or 1)

    @property
    def position(self) -> tuple[float, ...] | None:
        return self.vector("ImagePositionPatient", 3)

    @property
    def orientation(self) -> tuple[float, ...] | None:
        return self.vector("ImageOrientationPatient", 6)

    @property
    def native_offset_ok(self) -> bool:
        """True when the pixels can be read raw from ``pixel_offset`` (uncompressed little endian)."""
        return (
            self.pixel_offset is not None
            and not self.encapsulated
            and self.transfer_syntax in UNCOMPRESSED
            and self.integer("BitsAllocated") in (8, 16, 32)
            and (self.integer("SamplesPerPixel", 1) or 1) == 1
        )


# -- value decoding --------------------------------------------------------------------------------
def _decode(raw: bytes, how: str, charset: str) -> Any:
    if how == "us":
        if len(raw) >= 2:
            n = len(raw) // 2
            vals = struct.unpack(f"<{n}H", raw[: 2 * n])
            return vals[0] if n == 1 else list(vals)
        return None
    encoding = "utf-8" if "192" in charset else "latin-1"
    text = raw.decode(encoding if how == "text" else "ascii", errors="replace").rstrip("\x00 ").strip()
    if how in ("str", "text"):
        if how == "str" and "\\" in text:
            return [p.strip() for p in text.split("\\")]
        return text
    parts = [p.strip() for p in text.split("\\") if p.strip()]
    try:
        nums = [float(p) for p in parts] if how == "ds" else [int(float(p)) for p in parts]
    except ValueError:
        return None
    if not nums:
        return None
    return nums if len(nums) > 1 else nums[0]


_MULTI = {"ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "ImagerPixelSpacing",
          "WindowCenter", "WindowWidth", "ImageType"}


# -- the fast walker -------------------------------------------------------------------------------
def _skip_items(buf: bytes, pos: int, explicit: bool) -> int:
    """Skip an undefined-length sequence starting at ``pos`` (its first item); return the end."""
    unpack = struct.unpack_from
    n = len(buf)
    while True:
        if pos + 8 > n:
            raise _NeedMoreError
        group, elem, length = unpack("<HHI", buf, pos)
        pos += 8
        if group != 0xFFFE:
            raise _UnsupportedError("malformed sequence")
        if elem == 0xE0DD:  # sequence delimiter
            return pos
        if elem != 0xE000:
            raise _UnsupportedError("malformed sequence item")
        if length != _UNDEFINED:
            pos += length
            continue
        pos = _walk(buf, pos, explicit, None, nested=True)


def _walk(buf: bytes, pos: int, explicit: bool, out: dict[int, Any] | None, nested: bool = False,
          whole_file: bool = False) -> int:
    """Walk elements from ``pos``. At top level fill ``out`` and stop at PixelData.
    ``whole_file`` says ``buf`` holds the entire file, so running out of bytes means the end."""
    unpack = struct.unpack_from
    n = len(buf)
    while True:
        if pos + 8 > n:
            if out is not None and not nested and whole_file:
                return pos  # end of file without pixel data
            raise _NeedMoreError
        group, elem = unpack("<HH", buf, pos)
        tag = (group << 16) | elem
        if group == 0xFFFE:
            length = unpack("<I", buf, pos + 4)[0]
            if elem == 0xE00D and nested:  # item delimiter
                return pos + 8
            raise _UnsupportedError("unexpected delimiter")
        if explicit:
            vr = buf[pos + 4 : pos + 6]
            if vr in _LONG_VRS:
                if pos + 12 > n:
                    raise _NeedMoreError
                length = unpack("<I", buf, pos + 8)[0]
                value = pos + 12
            else:
                if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
                    raise _UnsupportedError("not explicit VR")
                length = unpack("<H", buf, pos + 6)[0]
                value = pos + 8
        else:
            vr = b""
            length = unpack("<I", buf, pos + 4)[0]
            value = pos + 8
        if out is not None:
            if tag == _PIXEL_DATA:
                out[_PIXEL_DATA] = (value, length)
                return value
            if tag in _FLOAT_PIXEL_DATA:
                raise _UnsupportedError("float pixel data")
            if tag in (_PER_FRAME_GROUPS, _SHARED_GROUPS):
                out[tag] = True
        if length == _UNDEFINED:
            # A sequence (or UN holding one, which is always implicit VR inside).
            pos = _skip_items(buf, value, explicit and vr != b"UN")
            continue
        end = value + length
        if out is not None and tag in _WANTED:
            if end > n:
                raise _NeedMoreError
            out[tag] = buf[value:end]
        pos = end


def _fast_parse(ref: FileRef) -> FrameHeader:
    size = 16384
    with open_ref(ref) as fh:
        buf = fh.read(size)
        if len(buf) < 132 or buf[128:132] != b"DICM":
            # No preamble: only data that starts like a DICOM data set (group 0002/0008) is tried.
            if len(buf) >= 8 and buf[:2] in (b"\x08\x00", b"\x02\x00") and buf[2:4] in _FIRST_ELEMENTS:
                raise _UnsupportedError("no preamble")
            raise NotDicomError("not a DICOM file")
        whole_file = len(buf) < size
        while True:
            try:
                raw: dict[int, Any] = {}
                _meta_and_body(buf, raw, whole_file)
                break
            except _NeedMoreError:
                if whole_file:
                    raise _UnsupportedError("truncated header") from None
                want = len(buf) * 3
                more = fh.read(want)
                whole_file = len(more) < want
                buf += more
        file_size = _size(ref, fh, len(buf))
    return _header_from_raw(ref, raw, file_size)


def _size(ref: FileRef, fh: Any, have: int) -> int:
    if isinstance(ref, ZipMember):
        return ref.size()
    try:
        return os.fstat(fh.fileno()).st_size
    except (OSError, AttributeError):
        return have


def _meta_and_body(buf: bytes, raw: dict[int, Any], whole_file: bool) -> int:
    # File meta group: always explicit VR little endian; its end tells the data set's encoding.
    pos = 132
    unpack = struct.unpack_from
    while pos + 8 <= len(buf) and unpack("<H", buf, pos)[0] == 0x0002:
        elem = unpack("<H", buf, pos + 2)[0]
        vr = buf[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            length = unpack("<I", buf, pos + 8)[0]
            value = pos + 12
        else:
            length = unpack("<H", buf, pos + 6)[0]
            value = pos + 8
        if value + length > len(buf):
            raise _NeedMoreError
        if elem == 0x0010:
            raw[0x00020010] = buf[value : value + length]
        pos = value + length
    ts = raw.get(0x00020010, b"").decode("ascii", "replace").rstrip("\x00 ")
    if ts == IMPLICIT_LE:
        explicit = False
    elif ts == EXPLICIT_LE or (ts.startswith("1.2.840.10008.1.2.4.") or ts == "1.2.840.10008.1.2.5"):
        explicit = True
    else:
        raise _UnsupportedError(f"transfer syntax {ts or 'missing'}")
    return _walk(buf, pos, explicit, raw, nested=False, whole_file=whole_file)


def _header_from_raw(ref: FileRef, raw: dict[int, Any], file_size: int) -> FrameHeader:
    charset_raw = raw.get(0x00080005, b"")
    charset = charset_raw.decode("ascii", "replace") if isinstance(charset_raw, bytes) else ""
    values: dict[str, Any] = {}
    for tag, item in raw.items():
        spec = _WANTED.get(tag)
        if spec is None or not isinstance(item, bytes):
            continue
        keyword, how = spec
        value = _decode(item, how, charset)
        if value is not None and value != "":
            values[keyword] = value
    _normalise(values)
    header = FrameHeader(ref=ref, values=values, file_size=file_size)
    pixel = raw.get(_PIXEL_DATA)
    if pixel is not None:
        offset, length = pixel
        header.has_pixels = True
        if length == _UNDEFINED:
            header.encapsulated = True
        else:
            header.pixel_offset, header.pixel_length = offset, length
    header.functional_groups = bool(raw.get(_PER_FRAME_GROUPS))
    return header


def _normalise(values: dict[str, Any]) -> None:
    """Multi-valued tags are always lists, single-valued ones never (whatever the parser gave)."""
    for keyword, value in list(values.items()):
        if keyword in _MULTI:
            if value is not None and not isinstance(value, list):
                values[keyword] = [value]
        elif isinstance(value, list) and keyword not in ("ImageType",):
            values[keyword] = value[0] if value else None


# -- the pydicom fallback --------------------------------------------------------------------------
def _pydicom_value(value: Any) -> Any:
    from pydicom.multival import MultiValue

    if isinstance(value, MultiValue | list | tuple):
        return [_pydicom_value(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1", "replace").rstrip("\x00 ")
    if isinstance(value, int | float | str):
        return value if not isinstance(value, str) else value.strip()
    return str(value)


def header_from_dataset(ref: FileRef, ds: Any, file_size: int | None = None) -> FrameHeader:
    """Build a :class:`FrameHeader` from a pydicom dataset (fallback and enhanced objects)."""
    values: dict[str, Any] = {}
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        values["TransferSyntaxUID"] = str(meta.TransferSyntaxUID)
    for tag, (keyword, _how) in _WANTED.items():
        if tag >> 16 == 0x0002 or tag not in ds:
            continue
        try:
            value = ds[tag].value
        except Exception:  # an unparseable value is as good as a missing one
            continue
        if value is None or value == "":
            continue
        values[keyword] = _pydicom_value(value)
    _normalise(values)
    header = FrameHeader(ref=ref, values=values, file_size=file_size, dataset=ds)
    header.has_pixels = any(t in ds for t in (_PIXEL_DATA, *_FLOAT_PIXEL_DATA))
    if _PIXEL_DATA in ds:
        header.encapsulated = bool(getattr(ds[_PIXEL_DATA], "is_undefined_length", False))
    header.functional_groups = "PerFrameFunctionalGroupsSequence" in ds
    return header


def _pydicom_parse(ref: FileRef, force: bool) -> FrameHeader:
    import pydicom
    from pydicom.errors import InvalidDicomError

    with open_ref(ref) as fh:
        try:
            ds = pydicom.dcmread(fh, stop_before_pixels=True, force=force)
        except InvalidDicomError as exc:
            raise NotDicomError(str(exc)) from exc
        pos = fh.tell()
        file_size = _size(ref, fh, pos)
        header = header_from_dataset(ref, ds, file_size)
        # stop_before_pixels leaves the file at the PixelData element: check the tag and VR/length
        # so native data can still be read straight from the file.
        ts = header.transfer_syntax
        if ts in UNCOMPRESSED:
            tail = fh.read(12)
            explicit = ts == EXPLICIT_LE and not getattr(ds, "is_implicit_VR", False)
            if len(tail) >= 8 and struct.unpack_from("<HH", tail) == (0x7FE0, 0x0010):
                header.has_pixels = True
                if explicit and tail[4:6] in (b"OB", b"OW") and len(tail) == 12:
                    length, value = struct.unpack_from("<I", tail, 8)[0], pos + 12
                elif not explicit:
                    length, value = struct.unpack_from("<I", tail, 4)[0], pos + 8
                else:
                    length, value = _UNDEFINED, 0
                if length == _UNDEFINED:
                    header.encapsulated = True
                else:
                    header.pixel_offset, header.pixel_length = value, length
            elif len(tail) >= 4 and struct.unpack_from("<HH", tail) in ((0x7FE0, 0x0008), (0x7FE0, 0x0009)):
                header.has_pixels = True
        elif header.has_pixels is False and header.rows:
            # pydicom stopped before the pixel data, so the dataset does not hold it: peek.
            tail = fh.read(4)
            header.has_pixels = len(tail) == 4
    ts = header.transfer_syntax
    if header.rows and ts not in UNCOMPRESSED:
        header.has_pixels = True  # compressed/big endian: trust Rows; decoding will tell
        header.encapsulated = ts not in (DEFLATED, BIG_ENDIAN)
    return header


def read_header(ref: FileRef) -> FrameHeader:
    """Parse the header of one file. Raises :class:`NotDicomError` for non-DICOM files, and whatever
    pydicom raises for broken DICOM."""
    try:
        return _fast_parse(ref)
    except _UnsupportedError as exc:
        return _pydicom_parse(ref, force="no preamble" in str(exc))
    except (struct.error, IndexError, UnicodeDecodeError):
        return _pydicom_parse(ref, force=False)


def read_full_dataset(ref: FileRef, stop_before_pixels: bool = False) -> Any:
    """The whole pydicom dataset (enhanced objects, compressed pixels)."""
    import pydicom

    with open_ref(ref) as fh:
        return pydicom.dcmread(fh, stop_before_pixels=stop_before_pixels, force=True)


def native_dtype(header: FrameHeader) -> np.dtype:
    """NumPy dtype of the stored (native little-endian) pixel values."""
    bits = header.integer("BitsAllocated", 16) or 16
    signed = (header.integer("PixelRepresentation", 0) or 0) == 1
    kind = "i" if signed else "u"
    return np.dtype(f"<{kind}{bits // 8}")


__all__ = ["FrameHeader", "NotDicomError", "header_from_dataset", "native_dtype", "read_full_dataset",
           "read_header"]
