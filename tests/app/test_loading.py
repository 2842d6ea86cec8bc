"""Scan -> study browser -> progressive background load, with errors and cancel.

Most tests replace ``medlens.viewer.io``'s ``scan``/``load_series`` with small fakes that follow
the io API (progressive fill, ``on_first_slice`` from the worker thread, cooperative cancel), so
the window's side is tested exactly and fast; the last tests use the real reader on the sample
chest CT and on a folder of corrupt files.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from medlens.viewer import io as vio
from medlens.viewer.model import Volume

from .conftest import make_left_bright_ct

pytestmark = pytest.mark.gui


@dataclass
class FakeSeries:
    key: str
    modality: str = "CT"
    description: str = "Chest"
    n_slices: int = 24
    series_number: int | None = 2
    kind: str = "volume"
    files: list[str] = field(default_factory=lambda: ["a", "b", "c"])
    warnings: list[str] = field(default_factory=list)
    patient_name: str = "TEST"
    study_date: str = "20240101"
    series_uid: str = "1.2.3"
    study_uid: str = "1.2"
    size_xyz: tuple[int, int, int] = (80, 64, 24)


class FakeLoadError(Exception):
    pass


class FakeLoader:
    """load_series(info, progress, cancel, on_first_slice) filling a volume slice by slice."""

    def __init__(self, hold_after_first: bool = False, fail: Exception | None = None, delay: float = 0.0):
        self.full = make_left_bright_ct()
        self.release = threading.Event()
        self.first_sent = threading.Event()
        if not hold_after_first:
            self.release.set()
        self.fail = fail
        self.delay = delay
        self.calls = 0

    def __call__(self, info, progress=None, cancel=None, on_first_slice=None) -> Volume:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        vol = Volume(np.zeros_like(self.full.array), self.full.geometry, self.full.meta)
        vol.meta.complete = False
        n = vol.array.shape[0]
        order = [n // 2, *(k for k in range(n) if k != n // 2)]
        for done, k in enumerate(order, 1):
            if cancel is not None and cancel.is_set():
                raise vio.LoadCancelled("cancelled")
            vol.array[k] = self.full.array[k]
            if done == 1 and on_first_slice is not None:
                on_first_slice(vol)
                self.first_sent.set()
                while not self.release.wait(0.01):
                    if cancel is not None and cancel.is_set():
                        raise vio.LoadCancelled("cancelled")
            if progress is not None:
                progress(done, n)
            time.sleep(self.delay)
        vol.meta.complete = True
        return vol


@pytest.fixture
def fake_io(monkeypatch):
    series = [FakeSeries("s1"), FakeSeries("s2", modality="CT", description="Scout", n_slices=1)]
    state = SimpleNamespace(series=series, loader=FakeLoader(), scanned=[])

    def scan(path):
        state.scanned.append(path)
        return vio.ScanResult(
            series=list(state.series), skipped_files=1, errors=[], skipped_paths=[Path("junk.txt")]
        )

    monkeypatch.setattr(vio, "scan", scan, raising=False)
    monkeypatch.setattr(vio, "load_series", lambda *a, **k: state.loader(*a, **k), raising=False)
    monkeypatch.setattr(vio, "read_image_file", lambda path: make_left_bright_ct(), raising=False)
    monkeypatch.setattr(
        vio, "thumbnail", lambda v, size=96: np.full((size, size), 128, np.uint8), raising=False
    )
    if not hasattr(vio, "LoadCancelled"):
        monkeypatch.setattr(vio, "LoadCancelled", type("LoadCancelled", (Exception,), {}), raising=False)
    if not hasattr(vio, "LoadError"):
        monkeypatch.setattr(vio, "LoadError", FakeLoadError, raising=False)
    return state


def test_open_lists_series_and_loads_the_first(qtbot, window, fake_io, tmp_path):
    with qtbot.waitSignal(window.load_finished, timeout=10_000) as blocker:
        window.open_paths([tmp_path])
    volume = blocker.args[0]
    assert window.browser.count() == 2
    first = window.browser.list.item(0).text()
    assert first.startswith("CT · 24 slices") and "Chest" in first
    assert window.series_key == "s1" and window.volume is volume
    assert window.panes["axial"].capture().std() > 10
    assert window.panes["3d"].has_volume
    assert str(tmp_path.resolve()) in window.recent.items()
    assert "junk.txt" in " ".join(window.problems.item(i).text() for i in range(window.problems.count()))
    assert not window.cancel_button.isVisible()
    qtbot.waitUntil(lambda: window.browser.thumbnails == {"s1", "s2"}, timeout=5000)


def test_first_slice_is_shown_while_loading(qtbot, window, fake_io, tmp_path):
    fake_io.loader = FakeLoader(hold_after_first=True)
    with qtbot.waitSignal(window.volume_shown, timeout=10_000):
        window.open_paths([tmp_path])
    axial = window.panes["axial"]
    assert window._load_job is not None and window._load_job.is_running  # still loading
    assert window.cancel_button.isVisible()
    assert axial.capture().std() > 10  # the middle slice is already on screen
    sagittal_partial = window.panes["sagittal"].capture()
    with qtbot.waitSignal(window.load_finished, timeout=10_000):
        fake_io.loader.release.set()
    # the rest of the array arrived in place and the panes were refreshed
    assert not np.array_equal(sagittal_partial, window.panes["sagittal"].capture())


def test_cancel_during_load(qtbot, window, fake_io, tmp_path):
    fake_io.loader = FakeLoader(hold_after_first=True)
    with qtbot.waitSignal(window.volume_shown, timeout=10_000):
        window.open_paths([tmp_path])
    with qtbot.waitSignal(window.load_cancelled, timeout=5000):
        window.cancel_button.click()
    assert "cancelled" in window.last_message.lower()
    assert not window.cancel_button.isVisible() and not window.progress.isVisible()
    # the app keeps working: another series loads fine
    fake_io.loader = FakeLoader()
    with qtbot.waitSignal(window.load_finished, timeout=10_000):
        window.load_series(fake_io.series[0])


def test_selecting_another_series_cancels_the_running_load(qtbot, window, fake_io, tmp_path):
    fake_io.loader = FakeLoader(hold_after_first=True)
    with qtbot.waitSignal(window.volume_shown, timeout=10_000):
        window.open_paths([tmp_path])
    first_job = window._load_job
    second = FakeLoader()
    fake_io.loader = second
    with qtbot.waitSignal(window.load_finished, timeout=10_000):
        window.browser._activated(window.browser.item_for("s2"))
    assert first_job.cancel_event.is_set() and window.series_key == "s2"


def test_load_error_is_a_message_not_a_crash(qtbot, window, fake_io, tmp_path, ct_volume):
    fake_io.loader = FakeLoader(fail=vio.LoadError("Unsupported transfer syntax in 3 files"))
    with qtbot.waitSignal(window.load_failed, timeout=10_000):
        window.open_paths([tmp_path])
    assert window.last_message == "Could not load the series: Unsupported transfer syntax in 3 files"
    assert window.problems_dock.isVisible()
    window.show_volume(ct_volume)  # still alive and drawing
    assert window.panes["axial"].capture().std() > 10


def test_unexpected_error_is_one_line(qtbot, window, fake_io, tmp_path):
    fake_io.loader = FakeLoader(fail=RuntimeError("boom\nsecond line"))
    with qtbot.waitSignal(window.load_failed, timeout=10_000):
        window.open_paths([tmp_path])
    assert "\n" not in window.last_message and "boom second line" in window.last_message


def test_nothing_readable(qtbot, window, fake_io, tmp_path):
    fake_io.series = []
    with qtbot.waitSignal(window.scan_finished, timeout=10_000):
        window.open_paths([tmp_path])
    assert window.last_message.startswith("No readable images found")
    assert window.browser.count() == 0 and window.volume is None


def test_missing_path(qtbot, window, fake_io, tmp_path):
    with qtbot.waitSignal(window.scan_finished, timeout=10_000):
        window.open_paths([tmp_path / "nope"])
    assert "No readable images" in window.last_message
    assert window.problems.count() >= 1


# -- the real reader ---------------------------------------------------------------------------
def _needs_real_io():
    if not all(hasattr(vio, n) for n in ("scan", "load_series", "LoadError")):
        pytest.skip("medlens.viewer.io is not in place yet")


@pytest.mark.slow
def test_real_sample_study(qtbot, window, sample_study):
    _needs_real_io()
    with qtbot.waitSignal(window.load_finished, timeout=60_000) as blocker:
        window.open_paths([sample_study])
    volume = blocker.args[0]
    assert window.browser.count() >= 1
    assert window.browser.list.item(0).text().startswith("CT · ")
    assert volume.meta.modality == "CT"
    axial = window.panes["axial"]
    img = axial.capture()
    assert img.std() > 20
    # patient left on screen right: moving right on screen increases the L coordinate
    w, h = axial.render_window.GetSize()
    left = axial.view.display_to_lps(w * 0.4, h / 2)
    right = axial.view.display_to_lps(w * 0.6, h / 2)
    assert right[0] > left[0]
    assert axial.view.orientation_labels["right"] == "L"
    before = img
    from .test_main_window import wheel

    wheel(axial, 5)
    assert not np.array_equal(before, axial.capture())


def test_real_corrupt_folder(qtbot, window, tmp_path):
    _needs_real_io()
    for i in range(3):
        (tmp_path / f"slice{i}.dcm").write_bytes(b"DICM" + bytes(range(256)) * 4)
    (tmp_path / "notes.txt").write_text("not an image")
    with qtbot.waitSignals([window.message_shown], timeout=10_000):
        window.open_paths([tmp_path])
    qtbot.waitUntil(lambda: not window._busy(), timeout=10_000)
    assert window.volume is None
    assert window.last_message  # a clear message, no dialog, no exception
    assert "Traceback" not in window.last_message
    window.show_volume(make_left_bright_ct())
    assert window.panes["axial"].capture().std() > 10
