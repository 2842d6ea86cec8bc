"""Fixtures for the Qt main-window tests: a shown window that is always torn down, test volumes.

Every VTK widget must be finalized before Qt destroys it, so the ``window`` fixture calls
``shutdown()`` (which cancels background jobs and finalizes every pane) in its teardown.
"""

from __future__ import annotations

import numpy as np
import pytest

from medlens.viewer.model import Geometry, Volume, VolumeMeta


@pytest.fixture
def recent(tmp_path):
    from medlens.app.settings import RecentStudies

    return RecentStudies(tmp_path / "recent.json")


@pytest.fixture
def window(qtbot, recent):
    from medlens.app.main_window import MainWindow

    win = MainWindow(recent=recent)
    qtbot.addWidget(win, before_close_func=lambda w: w.shutdown())
    win.resize(900, 700)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.shutdown()


def make_left_bright_ct(shape_zyx=(24, 64, 80)) -> Volume:
    """A CT whose patient-left half (LPS +x, high column index) is bright, the rest dark.

    Identity direction: column index i grows towards patient Left, row j towards Posterior,
    slice k towards Superior. Each slice also carries its own number so scrolling shows.
    """
    z, y, x = shape_zyx
    arr = np.full(shape_zyx, -800, np.int16)
    arr[:, :, x // 2 :] = 600  # patient left
    arr[:, y // 4 : y // 2, : x // 4] = np.arange(z, dtype=np.int16)[:, None, None] * 40 - 500
    meta = VolumeMeta(
        modality="CT", units="HU", rescale_applied=True, patient_name="TEST^LEFT", study_date="20240101"
    )
    return Volume(arr, Geometry(spacing=(1.0, 1.0, 2.0), origin=(-40.0, -32.0, 0.0)), meta)


@pytest.fixture
def ct_volume() -> Volume:
    return make_left_bright_ct()
