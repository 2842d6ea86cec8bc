"""The main window on a synthetic CT: pixels read back from each pane's VTK render window.

``window.show_volume`` is the same entry the loader uses once the first slice is in, so these
tests need no files; Qt input is simulated with QTest / sendEvent on the pane widgets.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from medlens.app.tools import Tool
from medlens.viewer.model import Volume, VolumeMeta

pytestmark = pytest.mark.gui


def wheel(widget, notches: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    ev = QWheelEvent(
        pos,
        widget.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        modifiers,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, ev)


def drag(widget, button, start: tuple[int, int], end: tuple[int, int], steps: int = 4) -> None:
    QTest.mousePress(widget, button, Qt.KeyboardModifier.NoModifier, QPoint(*start))
    for s in range(1, steps + 1):
        x = start[0] + (end[0] - start[0]) * s // steps
        y = start[1] + (end[1] - start[1]) * s // steps
        QTest.mouseMove(widget, QPoint(x, y))
    QTest.mouseRelease(widget, button, Qt.KeyboardModifier.NoModifier, QPoint(*end))


def hover(widget, x: int, y: int) -> None:
    """A plain mouse move (no button). Sent directly: QTest.mouseMove without a pressed button
    is not routed to the pane's native child window on the offscreen platform."""
    pos = QPointF(x, y)
    ev = QMouseEvent(
        QEvent.Type.MouseMove,
        pos,
        widget.mapToGlobal(pos),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, ev)


def centre(widget) -> tuple[int, int]:
    return widget.width() // 2, widget.height() // 2


def test_panes_render_a_shown_volume(window, ct_volume):
    window.show_volume(ct_volume)
    for name, pane in window.panes.items():
        img = pane.capture()
        assert img.shape[0] > 100 and img.shape[1] > 100, name
        background = img[0, 0]
        assert (img != background).any(axis=2).mean() > 0.05, f"{name} pane is blank"
    assert window.window_preset == "soft tissue"
    assert window.window_combo.currentText() == "CT soft tissue"


def test_patient_left_is_on_screen_right_in_axial(window, ct_volume):
    window.show_volume(ct_volume)
    img = window.panes["axial"].capture().astype(float).mean(axis=2)
    h, w = img.shape
    rows = slice(h // 2 + 5, h // 2 + 25)  # below the crosshair and the slice-number strip
    screen_left = img[rows, w // 2 - 60 : w // 2 - 10].mean()
    screen_right = img[rows, w // 2 + 10 : w // 2 + 60].mean()
    assert screen_right > 200 and screen_left < 50
    assert window.panes["axial"].view.orientation_labels["right"] == "L"


def test_wheel_and_keys_scroll_slices(window, ct_volume):
    window.show_volume(ct_volume)
    pane = window.panes["axial"]
    before_img, before = pane.capture(), pane.view.slice_index
    wheel(pane, 3)
    assert pane.view.slice_index == before + 3
    assert not np.array_equal(before_img, pane.capture())
    pane.setFocus()
    QTest.keyClick(pane, Qt.Key.Key_Down)
    assert pane.view.slice_index == before + 2
    QTest.keyClick(pane, Qt.Key.Key_PageDown)
    assert pane.view.slice_index == before - 8
    # scrolling axial moves the linked cursor, so coronal/sagittal crosshairs follow
    assert window.panes["coronal"].view.cursor_lps[2] == pytest.approx(pane.view.cursor_lps[2])


def test_ctrl_wheel_zooms(window, ct_volume):
    window.show_volume(ct_volume)
    pane = window.panes["coronal"]
    index = pane.view.slice_index
    wheel(pane, 2, Qt.KeyboardModifier.ControlModifier)
    assert pane.view.zoom_factor == pytest.approx(1.15**2, rel=1e-3)
    assert pane.view.slice_index == index


def test_right_drag_changes_window_in_all_panes(window, ct_volume):
    window.show_volume(ct_volume)
    axial, coronal = window.panes["axial"], window.panes["coronal"]
    before = axial.capture(), coronal.capture()
    c0, w0 = window.window
    x, y = centre(axial)
    drag(axial, Qt.MouseButton.RightButton, (x, y), (x + 80, y + 40))
    c1, w1 = window.window
    assert w1 > w0 and c1 != c0
    assert coronal.view.window == pytest.approx((c1, w1))
    assert window.window_preset == "Custom" and window.window_combo.currentText() == "Custom"
    assert not np.array_equal(before[0], axial.capture())
    assert not np.array_equal(before[1], coronal.capture())


def test_presets_apply_to_all_slice_panes(window, ct_volume):
    window.show_volume(ct_volume)
    before = window.panes["sagittal"].capture()
    window.apply_window_preset("lung")
    assert all(p.view.window == (-600.0, 1500.0) for p in window.slice_panes)
    assert not np.array_equal(before, window.panes["sagittal"].capture())
    assert window.window_actions["lung"].isChecked()


def test_mr_offers_only_auto(window):
    arr = np.linspace(0, 1000, 16 * 32 * 32, dtype=np.float32).reshape(16, 32, 32)
    window.show_volume(Volume(arr, meta=VolumeMeta(modality="MR")))
    assert window.window_preset == "Auto"
    assert not window.window_actions["lung"].isEnabled()
    assert [window.window_combo.itemText(i) for i in range(window.window_combo.count())] == ["Auto", "Custom"]
    window.apply_window_preset("bone")  # refused with a message, nothing breaks
    assert "CT only" in window.last_message
    assert window.volume_combo.currentText() == "MR"


def test_click_sets_linked_crosshair_and_move_updates_readout(window, ct_volume):
    window.show_volume(ct_volume)
    axial = window.panes["axial"]
    cor_before = window.panes["coronal"].view.slice_index
    x, y = centre(axial)
    QTest.mouseClick(axial, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x, y - 60))
    assert window.panes["coronal"].view.slice_index != cor_before
    hover(axial, x + 30, y + 10)
    text = window.readout_label.text()
    assert "voxel (" in text and "LPS (" in text and text.endswith("600 HU")


def test_double_click_maximises_and_restores(window, ct_volume):
    window.show_volume(ct_volume)
    coronal = window.panes["coronal"]
    QTest.mouseDClick(
        coronal, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*centre(coronal))
    )
    assert coronal.isVisible() and not window.panes["axial"].isVisible()
    assert not window.panes["3d"].isVisible()
    assert coronal.capture().std() > 10
    QTest.mouseDClick(
        coronal, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*centre(coronal))
    )
    assert all(p.isVisible() for p in window.panes.values())
    window.layout_actions["3d"].trigger()
    assert window.panes["3d"].isVisible() and not coronal.isVisible()


def test_corner_text_toggle(window, ct_volume):
    window.show_volume(ct_volume)
    axial = window.panes["axial"]
    with_text = axial.capture()
    window.act_corner.trigger()
    assert not window.act_corner.isChecked()
    without = axial.capture()
    h, w, _ = with_text.shape
    top_left = (slice(0, h // 6), slice(0, w // 2))
    assert with_text[top_left].sum() > without[top_left].sum()


def test_ruler_tool_measures(window, ct_volume):
    window.show_volume(ct_volume)
    axial = window.panes["axial"]
    window.tool_actions[Tool.RULER].trigger()
    assert window.tool is Tool.RULER
    x, y = centre(axial)
    before = axial.capture()
    drag(axial, Qt.MouseButton.LeftButton, (x - 40, y), (x + 40, y))
    assert window.measurements.count() == 1
    assert "mm" in window.measurements.item(0).text()
    assert not np.array_equal(before, axial.capture())


def test_ellipse_tool_measures(window, ct_volume):
    window.show_volume(ct_volume)
    window.set_tool(Tool.ELLIPSE)
    axial = window.panes["axial"]
    x, y = centre(axial)
    drag(axial, Qt.MouseButton.LeftButton, (x + 10, y + 10), (x + 50, y + 40))
    assert window.measurements.count() == 1
    assert window.measurements.item(0).text().startswith("Axial: ")


def test_3d_preset_combo(window, ct_volume):
    window.show_volume(ct_volume)
    assert window.volume_combo.currentText() == "CT bone"
    before = window.panes["3d"].capture()
    window.set_volume_preset("CT soft tissue")
    assert window.panes["3d"].view.preset == "CT soft tissue"
    assert not np.array_equal(before, window.panes["3d"].capture())


def test_about_box_says_not_for_clinical_use(window):
    window.act_about.trigger()
    assert "Not for clinical use" in window.about_box.text()
    window.about_box.close()
