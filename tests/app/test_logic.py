"""Qt-free rules of the app layer: presets, readout text, layout, recent list, gestures."""

from __future__ import annotations

import numpy as np
import pytest

from medlens.app import presets
from medlens.app.interaction import SliceController
from medlens.app.layout import PANES, LayoutState
from medlens.app.readout import describe_measurement, format_readout, format_value
from medlens.app.settings import RecentStudies
from medlens.app.tools import Button, Tool, gesture_for
from medlens.app.viewer_entry import display_problem, run_viewer
from medlens.viewer.model import Volume, VolumeMeta


def _vol(modality="CT", units="HU", window=None, array=None):
    arr = np.zeros((4, 8, 8), np.int16) if array is None else array
    return Volume(arr, meta=VolumeMeta(modality=modality, units=units, window=window))


# -- presets ---------------------------------------------------------------------------------
def test_ct_gets_ct_presets_and_auto():
    names = presets.window_presets_for(_vol())
    assert names[:5] == ["brain", "soft tissue", "lung", "bone", "liver"]
    assert names[-1] == presets.AUTO


def test_mr_gets_only_auto():
    assert presets.window_presets_for(_vol("MR", "")) == [presets.AUTO]
    assert presets.volume_preset_for(_vol("MR", "")) == "MR"
    assert presets.volume_preset_for(_vol()) == "CT bone"


def test_initial_window_prefers_file_window_then_soft_tissue():
    assert presets.initial_window(_vol(window=(50.0, 350.0))) == (None, (50.0, 350.0))
    name, (c, w) = presets.initial_window(_vol())
    assert name == "soft tissue" and (c, w) == presets.ct_presets()["soft tissue"]


def test_initial_window_of_partial_mr_uses_the_filled_slice():
    arr = np.zeros((9, 16, 16), np.float32)
    arr[4] = np.linspace(100, 200, 256).reshape(16, 16)  # only the middle slice is loaded
    name, (c, w) = presets.initial_window(_vol("MR", "", array=arr), partial_slice=4)
    assert name == presets.AUTO
    assert c - w / 2 >= 100 and c + w / 2 <= 200.5


def test_drag_window_horizontal_width_vertical_centre():
    c, w = presets.drag_window(40, 400, dx=10, dy=0)
    assert c == 40 and w > 400
    c2, w2 = presets.drag_window(40, 400, dx=0, dy=10)
    assert w2 == 400 and c2 != 40
    assert presets.drag_window(40, 2, dx=-1000, dy=0)[1] >= 1.0  # never collapses


# -- readout ---------------------------------------------------------------------------------
def test_format_readout():
    text = format_readout({"ijk": (10, 20, 3), "lps": (-1.25, 2.0, 30.5), "value": -1000.0, "units": "HU"})
    assert "(10, 20, 3)" in text and "(-1.2, 2.0, 30.5) mm" in text and text.endswith("-1000 HU")
    assert format_readout(None) == ""
    assert format_value(12.3456, "") == "12.35"


def test_describe_measurement_uses_label_text():
    class Ruler:
        label_text = "42.0 mm"

    assert describe_measurement(Ruler(), "fallback") == "42.0 mm"
    assert describe_measurement(object(), "fallback") == "fallback"


# -- layout, settings, tools --------------------------------------------------------------------
def test_layout_double_click_toggles():
    s = LayoutState()
    assert s.visible() == PANES
    s.toggle_maximise("coronal")
    assert s.visible() == ("coronal",)
    s.toggle_maximise("coronal")
    assert s.is_quad
    with pytest.raises(ValueError):
        s.set_single("oblique")


def test_recent_studies_roundtrip_and_corrupt_file(tmp_path):
    r = RecentStudies(tmp_path / "cfg" / "recent.json", max_items=2)
    assert r.items() == []
    for p in ("a", "b", "a", "c"):
        r.add(tmp_path / p)
    assert [p.rsplit("/", 1)[-1] for p in r.items()] == ["c", "a"]
    r.path.write_text("{not json")
    assert r.items() == []  # a broken file never stops the viewer


def test_buttons_have_fixed_meanings():
    assert gesture_for(Button.RIGHT, Tool.RULER) is Tool.WINDOW_LEVEL
    assert gesture_for(Button.MIDDLE, Tool.NAVIGATE) is Tool.PAN
    assert gesture_for(Button.LEFT, Tool.ZOOM) is Tool.ZOOM


# -- the gesture controller with a fake view -----------------------------------------------------
class FakeView:
    orientation = "axial"

    def __init__(self):
        self.slice_index, self.n_slices = 5, 10
        self.window = (40.0, 400.0)
        self.zoomed, self.panned, self.rulers, self.renders = [], [], [], 0

    def scroll(self, d):
        self.slice_index = min(max(self.slice_index + d, 0), self.n_slices - 1)

    def display_to_lps(self, x, y):
        return np.array([x, y, self.slice_index], float)

    def readout(self, x, y):
        return {"ijk": (x, y, self.slice_index), "lps": (x, y, 0), "value": 1.0, "units": "HU"}

    def zoom(self, f):
        self.zoomed.append(f)

    def pan(self, dx, dy):
        self.panned.append((dx, dy))

    def add_ruler(self, p, q):
        self.rulers.append((p, q))
        return object()

    def render(self):
        self.renders += 1


class Hooks:
    def __init__(self):
        self.cursor, self.windows, self.readouts, self.slices, self.measures = [], [], [], [], []

    def cursor_moved(self, lps):
        self.cursor.append(lps)

    def window_changed(self, c, w):
        self.windows.append((c, w))

    def readout_changed(self, r):
        self.readouts.append(r)

    def slice_changed(self, view):
        self.slices.append(view.slice_index)

    def measurement_added(self, kind, obj, text):
        self.measures.append((kind, text))


def test_controller_gestures():
    view, hooks = FakeView(), Hooks()
    c = SliceController(view, hooks)
    c.wheel(2)
    assert view.slice_index == 7 and hooks.slices == [7]
    assert c.key("pagedown") and view.slice_index == 0
    assert not c.key("x")
    c.wheel(1, ctrl=True)
    assert view.zoomed and view.slice_index == 0
    c.press(Button.LEFT, 10, 20)
    c.move(12, 25)
    c.release(Button.LEFT, 12, 25)
    assert [tuple(p[:2]) for p in hooks.cursor] == [(10, 20), (12, 25)]
    assert hooks.readouts[-1]["ijk"][:2] == (12, 25)
    c.press(Button.RIGHT, 0, 0)
    c.move(20, 0)
    assert hooks.windows[-1][1] > 400  # horizontal = width
    c.release(Button.RIGHT, 20, 0)
    c.press(Button.MIDDLE, 0, 0)
    c.move(5, 7)
    assert view.panned == [(5, 7)]
    c.release(Button.MIDDLE, 5, 7)


def test_ruler_by_drag_and_by_two_clicks():
    view, hooks = FakeView(), Hooks()
    c = SliceController(view, hooks)
    c.set_tool(Tool.RULER)
    c.press(Button.LEFT, 0, 0)
    c.move(30, 40)
    c.release(Button.LEFT, 30, 40)
    assert hooks.measures == [("ruler", "Ruler: 50.0 mm")]
    c.press(Button.LEFT, 0, 0)
    c.release(Button.LEFT, 0, 0)
    assert len(view.rulers) == 1  # first click only marks the start
    c.press(Button.LEFT, 0, 10)
    c.release(Button.LEFT, 0, 10)
    assert len(view.rulers) == 2 and hooks.measures[-1][1] == "Ruler: 10.0 mm"


# -- entry point -------------------------------------------------------------------------------
def test_no_display_is_detected():
    assert display_problem({}, "linux") is not None
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "win32") is None


def test_run_viewer_without_display_returns_2(monkeypatch, capsys):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert run_viewer(["/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert "xvfb-run" in err and "medlens screenshot" in err
