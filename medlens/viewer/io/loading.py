"""Loading what a scan found: :func:`load_series` (progressive) and :func:`load` (everything).

Why progressive: the GUI shows the middle slice as soon as it is decoded (``on_first_slice``)
and re-renders as the same array fills in, so the user looks at anatomy within a fraction of a
second even for a 500-slice study.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ..model import Volume
from .errors import LoadCancelled, LoadError, one_line
from .image_files import read_image_file
from .pixel_loader import LoadPlan, fill_volume
from .scan import scan
from .series_info import ScanResult, SeriesInfo

ProgressFn = Callable[[int, int], None]


def load_series(
    info: SeriesInfo,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    on_first_slice: Callable[[Volume], None] | None = None,
) -> Volume:
    """Load one series. The array is allocated whole; the middle slice is decoded first and
    ``on_first_slice(volume)`` called with ``volume.meta.complete`` False; the same array is then
    filled in place. ``progress(done, total)`` is called every few slices; setting ``cancel``
    raises :class:`LoadCancelled`. Unreadable slices are zero-filled and named in
    ``meta.warnings``; a series with no readable slice raises :class:`LoadError`."""
    if cancel is not None and cancel.is_set():
        raise LoadCancelled("load cancelled")
    if info.kind == "image-file":
        volume = read_image_file(Path(info.frames or info.files[0]))
        volume.meta.warnings.extend(info.warnings)
        if on_first_slice is not None:
            volume.meta.complete = False
            on_first_slice(volume)
            volume.meta.complete = True
        if progress is not None:
            progress(1, 1)
        return volume
    plan = info.frames
    if not isinstance(plan, LoadPlan):
        where = info.files[0] if info.files else info.key
        raise LoadError(one_line(where, "series has no load plan; scan it again"))
    volume = fill_volume(plan, progress, cancel, on_first_slice)
    failed = sum(1 for w in volume.meta.warnings if w.endswith("slice zero-filled"))
    if failed and failed >= sum(1 for s in plan.slots if s is not None):
        first = next(w for w in volume.meta.warnings if w.endswith("slice zero-filled"))
        raise LoadError(first.removesuffix(" — slice zero-filled"))
    return volume


def load(path: str | Path, progress: ProgressFn | None = None) -> tuple[list[Volume], ScanResult]:
    """Scan ``path`` and load every series (the CLI's convenience). Series that fail to load are
    reported in the returned scan's ``errors``; if nothing at all loads, :class:`LoadError`."""
    result = scan(path)
    total = sum(max(1, s.n_slices) for s in result.series)
    volumes: list[Volume] = []
    done = 0
    for info in result.series:
        base = done

        def report(d: int, _t: int, base: int = base) -> None:
            if progress is not None:
                progress(base + d, total)

        try:
            volumes.append(load_series(info, progress=report))
        except LoadError as exc:
            result.errors.append(str(exc))
        done += max(1, info.n_slices)
        if progress is not None:
            progress(done, total)
    if not volumes:
        detail = f" ({result.errors[0]})" if result.errors else ""
        raise LoadError(f"{path}: no loadable image series found{detail}")
    return volumes, result


__all__ = ["load", "load_series"]
