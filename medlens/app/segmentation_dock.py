"""The Segmentation dock: review AI masks (accept / reject), edit them, save and reload them.

Accept copies the AI label map into an editable segmentation, so the untouched AI output
(``window.ai.ai_label_map``) stays available for comparison and for the corrections store; Reject
discards the AI mask. Editing itself is Qt-free (:mod:`medlens.viewer.edit`); this dock holds the
controls (label table, brush size with ``[``/``]``, threshold range, 2D/3D, islands, undo/redo with
Ctrl+Z / Ctrl+Shift+Z), the file actions (NIfTI/NRRD with a label sidecar, DICOM SEG referencing
the source series, MANUAL once edited) and classification verdicts (JSON). Unsaved edits are
autosaved every 30 s; when a series with an autosave is shown, a bar at the top of the window
offers to recover it (non-modal: reading the images is never blocked by a question).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from medlens.app.edit_tools import EditMouseHandler
from medlens.app.errors import user_message
from medlens.app.tools import Tool
from medlens.viewer.edit import Box, SegmentationEditor
from medlens.viewer.edit.autosave import (
    AUTOSAVE_INTERVAL_S,
    Autosaver,
    AutosaveRecord,
    discard_autosave,
    find_autosave,
    list_autosaves,
    load_autosave,
)
from medlens.viewer.edit.decisions import ClassificationDecision, save_decision
from medlens.viewer.edit.seg_files import load_segmentation, save_segmentation
from medlens.viewer.model import Label, LabelMap, Volume

log = logging.getLogger(__name__)

BRUSH_MIN_MM, BRUSH_MAX_MM = 0.5, 50.0
BRUSH_STEP = 1.25  # [ and ] change the radius by this factor
SEG_FILTERS = "NIfTI (*.nii.gz *.nii);;NRRD (*.nrrd);;DICOM SEG (*.dcm)"


def _swatch(color: tuple[int, int, int]) -> QIcon:
    px = QPixmap(14, 14)
    px.fill(QColor(*color))
    return QIcon(px)


class RecoveryBar(QToolBar):
    """A slim bar at the top of the window offering to restore an autosaved segmentation."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Recover segmentation", parent)
        self.setObjectName("recovery_bar")
        self.setMovable(False)
        self.label = QLabel("", self)
        self.recover_button = QPushButton("Recover", self)
        self.discard_button = QPushButton("Discard", self)
        self.addWidget(self.label)
        self.addWidget(self.recover_button)
        self.addWidget(self.discard_button)
        self.record: AutosaveRecord | None = None
        self.hide()

    def offer(self, record: AutosaveRecord, text: str) -> None:
        self.record = record
        self.label.setText(f"  {text}  ")
        self.show()

    def clear(self) -> None:
        self.record = None
        self.hide()


class SegmentationPanel(QWidget):
    """Controls of the editable segmentation of the series shown in ``window``."""

    edited = Signal()  # any change (edit, undo, label table); tests wait on it
    editing_changed = Signal(bool)  # an editable segmentation appeared / went
    saved = Signal(str)

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.editor: SegmentationEditor | None = None
        self.reviewed_ai: LabelMap | None = None  # the AI output accepted into the editor, untouched
        self.from_ai = False
        self.algorithm_name: str | None = None
        self.autosaver: Autosaver | None = None
        self.saved_generation = 0
        self._pending: Box | None = None  # mid-stroke boxes not drawn yet (see _defer)
        self._flush_scheduled = False
        self.handler = EditMouseHandler(
            lambda: self.editor, self._changed, lambda: self.check_3d.isChecked(), window.show_message
        )
        self._build()
        self.timer = QTimer(self)
        self.timer.setInterval(int(AUTOSAVE_INTERVAL_S * 1000))
        self.timer.timeout.connect(self.autosave_now)
        self.timer.start()
        self._sync()

    # ======================================================================================
    # widgets
    # ======================================================================================
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        review = QGroupBox("AI result", self)
        r = QHBoxLayout(review)
        self.accept_button = QPushButton("Accept", self)
        self.accept_button.setToolTip(
            "Turn the AI mask into an editable segmentation (the AI output is kept)"
        )
        self.reject_button = QPushButton("Reject", self)
        self.reject_button.setToolTip("Discard the AI mask")
        self.new_button = QPushButton("New", self)
        self.new_button.setToolTip("Start an empty segmentation on this series")
        for b in (self.accept_button, self.reject_button, self.new_button):
            r.addWidget(b)
        self.accept_button.clicked.connect(lambda: self.accept())
        self.reject_button.clicked.connect(self.reject)
        self.new_button.clicked.connect(self.new_segmentation)
        lay.addWidget(review)

        labels = QGroupBox("Labels", self)
        g = QVBoxLayout(labels)
        self.label_list = QListWidget(self)
        self.label_list.setToolTip("Double-click a name to rename; the selected label is painted")
        self.label_list.currentItemChanged.connect(self._label_selected)
        self.label_list.itemChanged.connect(self._label_renamed)
        g.addWidget(self.label_list)
        row = QHBoxLayout()
        self.add_label_button = QPushButton("Add", self)
        self.remove_label_button = QPushButton("Remove", self)
        self.remove_label_button.setToolTip("Remove the label and clear its voxels (undoable)")
        self.color_button = QPushButton("Colour…", self)
        for b in (self.add_label_button, self.remove_label_button, self.color_button):
            row.addWidget(b)
        self.add_label_button.clicked.connect(lambda: self.add_label())
        self.remove_label_button.clicked.connect(lambda: self.remove_label())
        self.color_button.clicked.connect(lambda: self.recolor_label())
        g.addLayout(row)
        lay.addWidget(labels)

        tools = QGroupBox("Tools", self)
        t = QGridLayout(tools)
        self.tool_buttons: dict[Tool, QPushButton] = {}
        for n, tool in enumerate((Tool.BRUSH, Tool.ERASER, Tool.FILL)):
            b = QPushButton(tool.info.label, self)
            b.setCheckable(True)
            b.setToolTip(f"{tool.info.label} ({tool.info.shortcut}): {tool.info.tip}")
            b.clicked.connect(lambda _=False, tl=tool: self.window.set_tool(tl))
            t.addWidget(b, 0, n)
            self.tool_buttons[tool] = b
        t.addWidget(QLabel("Brush radius", self), 1, 0)
        self.brush_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.brush_slider.setRange(int(BRUSH_MIN_MM * 2), int(BRUSH_MAX_MM * 2))  # half-mm steps
        self.brush_slider.setValue(10)
        self.brush_slider.setToolTip("Brush radius in mm ([ smaller, ] larger)")
        self.brush_slider.valueChanged.connect(self._brush_slider_moved)
        t.addWidget(self.brush_slider, 1, 1)
        self.brush_label = QLabel("5.0 mm", self)
        t.addWidget(self.brush_label, 1, 2)
        self.check_3d = QCheckBox("3D (sphere brush, 3D fill)", self)
        self.check_3d.toggled.connect(self._apply_settings)
        t.addWidget(self.check_3d, 2, 0, 1, 3)
        self.check_threshold = QCheckBox("Only image values from", self)
        self.check_threshold.setToolTip("Threshold paint: brush and fill change only voxels in this range")
        self.threshold_lo = QDoubleSpinBox(self)
        self.threshold_hi = QDoubleSpinBox(self)
        for box, v in ((self.threshold_lo, -100.0), (self.threshold_hi, 300.0)):
            box.setRange(-100000.0, 100000.0)
            box.setDecimals(0)
            box.setValue(v)
            box.valueChanged.connect(self._apply_settings)
        self.check_threshold.toggled.connect(self._apply_settings)
        t.addWidget(self.check_threshold, 3, 0)
        t.addWidget(self.threshold_lo, 3, 1)
        t.addWidget(self.threshold_hi, 3, 2)
        self.largest_button = QPushButton("Keep largest island", self)
        self.largest_button.clicked.connect(lambda: self.keep_largest())
        t.addWidget(self.largest_button, 4, 0, 1, 3)
        self.small_button = QPushButton("Remove islands smaller than", self)
        self.small_button.clicked.connect(lambda: self.remove_small())
        self.small_voxels = QSpinBox(self)
        self.small_voxels.setRange(1, 10**7)
        self.small_voxels.setValue(50)
        self.small_voxels.setSuffix(" vx")
        t.addWidget(self.small_button, 5, 0, 1, 2)
        t.addWidget(self.small_voxels, 5, 2)
        lay.addWidget(tools)

        files = QHBoxLayout()
        self.save_button = QPushButton("Save…", self)
        self.save_button.setToolTip("Save the segmentation as NIfTI, NRRD or DICOM SEG")
        self.load_button = QPushButton("Load…", self)
        self.load_button.setToolTip("Load a segmentation (NIfTI/NRRD on this grid, or DICOM SEG)")
        self.save_button.clicked.connect(self._save_dialog)
        self.load_button.clicked.connect(self._load_dialog)
        files.addWidget(self.save_button)
        files.addWidget(self.load_button)
        lay.addLayout(files)

        cls = QGroupBox("Classification verdict", self)
        c = QGridLayout(cls)
        self.prediction_label = QLabel("(no AI classification)", self)
        c.addWidget(self.prediction_label, 0, 0, 1, 2)
        self.agree_box = QComboBox(self)
        self.agree_box.addItems(["Agree", "Disagree"])
        self.class_box = QComboBox(self)
        self.class_box.setToolTip("The correct class when disagreeing")
        c.addWidget(self.agree_box, 1, 0)
        c.addWidget(self.class_box, 1, 1)
        self.decision_button = QPushButton("Save verdict…", self)
        self.decision_button.clicked.connect(self._decision_dialog)
        c.addWidget(self.decision_button, 2, 0, 1, 2)
        lay.addWidget(cls)
        lay.addStretch(1)

    # ======================================================================================
    # state
    # ======================================================================================
    @property
    def label_map(self) -> LabelMap | None:
        return self.editor.label_map if self.editor is not None else None

    @property
    def dirty(self) -> bool:
        return self.editor is not None and self.editor.generation != self.saved_generation

    def ai_label_map(self) -> LabelMap | None:
        return getattr(getattr(self.window, "ai", None), "ai_label_map", None)

    def ai_result(self) -> Any:
        return getattr(getattr(self.window, "ai", None), "last_result", None)

    def _sync(self) -> None:
        editing = self.editor is not None
        for w in (self.remove_label_button, self.color_button, self.largest_button, self.small_button):
            w.setEnabled(editing)
        self.save_button.setEnabled(editing)
        self.load_button.setEnabled(self.window.volume is not None)
        self.new_button.setEnabled(self.window.volume is not None)
        self.add_label_button.setEnabled(editing)
        result = self.ai_result()
        probs = dict(getattr(result, "probabilities", {}) or {})
        if probs:
            best = max(probs, key=probs.__getitem__)
            self.prediction_label.setText(f"AI: {best} ({probs[best]:.2f})")
            names = list(getattr(result, "class_names", []) or probs)
            if [self.class_box.itemText(i) for i in range(self.class_box.count())] != names:
                self.class_box.clear()
                self.class_box.addItems(names)
        self.decision_button.setEnabled(bool(probs))
        act = getattr(self, "undo_action", None)
        if act is not None:
            h = self.editor.history if editing else None
            can_undo = h is not None and h.can_undo
            can_redo = h is not None and h.can_redo
            self.undo_action.setEnabled(can_undo)
            self.redo_action.setEnabled(can_redo)
            self.undo_action.setText(f"&Undo {h.undo_text}" if can_undo else "&Undo")  # type: ignore[union-attr]
            self.redo_action.setText(f"&Redo {h.redo_text}" if can_redo else "&Redo")  # type: ignore[union-attr]

    def ai_result_ready(self, result: Any) -> None:
        """A segmentation or classification arrived: show the dock so it can be judged."""
        if getattr(result, "task", None) in ("segmentation", "classification"):
            dock = getattr(self.window, "segmentation_dock", None)
            if dock is not None:
                dock.show()
        self._sync()

    def tool_changed(self, tool: Tool) -> None:
        for t, b in self.tool_buttons.items():
            b.setChecked(t is tool)

    # ======================================================================================
    # review: accept / reject / new
    # ======================================================================================
    def accept(self, label_map: LabelMap | None = None) -> bool:
        """Make the AI mask (or ``label_map``) the editable segmentation; the original is untouched."""
        source = label_map if label_map is not None else self.ai_label_map()
        volume = self.window.volume
        if source is None or volume is None:
            self.window.show_message("No AI segmentation to accept")
            return False
        if source.array.shape != volume.array.shape:
            self.window.show_message("The AI segmentation does not lie on the series shown")
            return False
        copy = LabelMap(
            source.array.copy(), source.geometry, list(source.labels), f"{source.name} (reviewed)"
        )
        result = self.ai_result()
        self.reviewed_ai = source
        self._start(copy, from_ai=True, algorithm=getattr(result, "plugin_id", None))
        self.window.show_message("AI segmentation accepted — edit it with Brush (B), Eraser (X), Fill (G)")
        return True

    def reject(self) -> None:
        """Discard the AI mask (and any editable copy that was not saved stays autosaved)."""
        ai = getattr(self.window, "ai", None)
        discard = getattr(ai, "discard", None)
        if callable(discard):
            discard()
        elif ai is not None and hasattr(ai, "ai_label_map"):
            ai.ai_label_map = None
        self.reviewed_ai = None
        if self.editor is not None and self.from_ai:
            self._stop()
        else:
            self._show_on_panes(None if self.editor is None else self.editor.label_map)
        self.window.show_message("AI segmentation rejected")
        self._sync()

    def new_segmentation(self) -> bool:
        volume = self.window.volume
        if volume is None:
            self.window.show_message("Open a study first")
            return False
        lm = LabelMap.empty_like(volume, [Label(1, "segment 1", (241, 214, 145))], name="segmentation")
        self._start(lm, from_ai=False, algorithm=None)
        return True

    def _start(self, lm: LabelMap, *, from_ai: bool, algorithm: str | None) -> None:
        self._stop(keep_overlay=True)
        volume = self.window.volume
        self.editor = SegmentationEditor(lm, volume)
        self.from_ai = from_ai
        self.algorithm_name = algorithm
        self.saved_generation = 0
        self.autosaver = Autosaver(volume)
        self._apply_settings()
        dock = getattr(self.window, "segmentation_dock", None)
        if dock is not None:
            dock.show()
        self._show_on_panes(lm)
        self._fill_label_list()
        self.editing_changed.emit(True)
        self._sync()

    def _stop(self, keep_overlay: bool = False) -> None:
        if self.editor is None:
            return
        if self.dirty:
            self.autosave_now()  # never lose edits silently
        self.editor = None
        self.autosaver = None
        if not keep_overlay:
            self._show_on_panes(None)
        self.label_list.clear()
        self.editing_changed.emit(False)
        self._sync()

    def volume_changed(self, volume: Volume) -> None:
        """Another series is shown: its grid cannot take this segmentation; offer its autosave."""
        if self.editor is not None and self.editor.image is not volume:
            self._stop()  # another grid (or another series on the same grid)
        self.check_recovery(volume)
        self._sync()

    # ======================================================================================
    # drawing
    # ======================================================================================
    def _show_on_panes(self, lm: LabelMap | None) -> None:
        for pane in self.window.slice_panes:
            setter = getattr(pane.view, "set_label_map", None)
            if pane.has_volume and setter is not None:
                setter(lm)
                pane.draw()

    def _defer(self, box: Box) -> None:
        """Mid-stroke: gather boxes and draw once when the event loop is idle.

        A render can cost more than the interval between mouse events (software OpenGL); painting
        every queued move into the label map first and drawing once keeps the stroke under the
        cursor instead of lagging behind a backlog of frames.
        """
        self._pending = box.union(self._pending)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            QTimer.singleShot(0, self, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        box, self._pending = self._pending, None
        if box is not None:
            self.refresh(box)

    def refresh(self, box: Box | None) -> None:
        """Redraw the label overlay inside ``box`` (everything when None) on the panes it crosses."""
        for pane in self.window.slice_panes:
            if not pane.has_volume:
                continue
            update = getattr(pane.view, "update_label_map", None)
            if update is None:
                continue
            update(None if box is None else box.slices)
            if box is None:
                pane.draw()
                continue
            axis = 2 - pane.view.axes.slice_axis  # array axis of this pane's slices
            lo, hi = box[axis]
            if lo <= pane.view.slice_index < hi:
                pane.draw()

    def _changed(self, box: Box | None, final: bool) -> None:
        if final:
            self._flush()
        if box is not None:
            if final:
                self.refresh(box)
            else:
                self._defer(box)
        if final:
            self.edited.emit()
            self._sync()

    # ======================================================================================
    # labels
    # ======================================================================================
    def _fill_label_list(self) -> None:
        self.label_list.blockSignals(True)
        self.label_list.clear()
        current = None
        if self.editor is not None:
            for lab in self.editor.label_map.labels:
                item = QListWidgetItem(_swatch(lab.color), lab.name)
                item.setData(Qt.ItemDataRole.UserRole, lab.value)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                item.setToolTip(f"value {lab.value}")
                self.label_list.addItem(item)
                if lab.value == self.editor.active_value:
                    current = item
        if current is not None:
            self.label_list.setCurrentItem(current)
        self.label_list.blockSignals(False)

    def _label_selected(self, item: QListWidgetItem | None, _prev: Any = None) -> None:
        if item is not None and self.editor is not None:
            self.editor.active_value = int(item.data(Qt.ItemDataRole.UserRole))

    def _label_renamed(self, item: QListWidgetItem) -> None:
        if self.editor is not None:
            self.rename_label(int(item.data(Qt.ItemDataRole.UserRole)), item.text())

    def _table_changed(self, box: Box | None = None) -> None:
        self._show_on_panes(self.editor.label_map if self.editor else None)  # new colours/values
        self._fill_label_list()
        self.edited.emit()
        self._sync()

    def add_label(self, name: str | None = None, color: tuple[int, int, int] | None = None) -> Label | None:
        if self.editor is None:
            return None
        lab = self.editor.add_label(name or "", color)
        self._table_changed()
        return lab

    def remove_label(self, value: int | None = None) -> None:
        if self.editor is None:
            return
        value = self.editor.active_value if value is None else value
        try:
            self.editor.remove_label(value)
        except KeyError:
            return
        self._table_changed()

    def rename_label(self, value: int, name: str) -> None:
        if self.editor is None:
            return
        lab = self.editor.label_map.label(value)
        if lab is not None and lab.name != name.strip():
            self.editor.rename_label(value, name)
            self._table_changed()

    def recolor_label(self, value: int | None = None, color: tuple[int, int, int] | None = None) -> None:
        if self.editor is None:
            return
        value = self.editor.active_value if value is None else value
        lab = self.editor.label_map.label(value)
        if lab is None:
            return
        if color is None:
            chosen = QColorDialog.getColor(QColor(*lab.color), self, f"Colour of {lab.name}")
            if not chosen.isValid():
                return
            color = (chosen.red(), chosen.green(), chosen.blue())
        self.editor.recolor_label(value, color)
        self._table_changed()

    # ======================================================================================
    # settings, islands, history
    # ======================================================================================
    @property
    def brush_radius_mm(self) -> float:
        return self.brush_slider.value() / 2.0

    def set_brush_radius(self, mm: float) -> None:
        self.brush_slider.setValue(round(min(max(mm, BRUSH_MIN_MM), BRUSH_MAX_MM) * 2))

    def grow_brush(self) -> None:
        self.set_brush_radius(max(self.brush_radius_mm * BRUSH_STEP, self.brush_radius_mm + 0.5))

    def shrink_brush(self) -> None:
        self.set_brush_radius(min(self.brush_radius_mm / BRUSH_STEP, self.brush_radius_mm - 0.5))

    def _brush_slider_moved(self, _v: int) -> None:
        self.brush_label.setText(f"{self.brush_radius_mm:.1f} mm")
        self._apply_settings()

    def set_threshold(self, lo: float, hi: float, enabled: bool = True) -> None:
        self.threshold_lo.setValue(lo)
        self.threshold_hi.setValue(hi)
        self.check_threshold.setChecked(enabled)
        self._apply_settings()

    def _apply_settings(self, *_args: Any) -> None:
        ed = self.editor
        if ed is None:
            return
        ed.radius_mm = self.brush_radius_mm
        ed.sphere = self.check_3d.isChecked()
        ed.threshold = (
            (self.threshold_lo.value(), self.threshold_hi.value())
            if self.check_threshold.isChecked()
            else None
        )

    def keep_largest(self) -> None:
        if self.editor is not None:
            self._changed(self.editor.keep_largest(), True)

    def remove_small(self, min_voxels: int | None = None) -> None:
        if self.editor is not None:
            n = self.small_voxels.value() if min_voxels is None else int(min_voxels)
            self._changed(self.editor.remove_small(n), True)

    def undo(self) -> None:
        if self.editor is not None and self.editor.history.can_undo:
            self._after_history(self.editor.undo())

    def redo(self) -> None:
        if self.editor is not None and self.editor.history.can_redo:
            self._after_history(self.editor.redo())

    def _after_history(self, box: Box | None) -> None:
        assert self.editor is not None
        shown = [(lab.value, lab.name, lab.color) for lab in self.editor.label_map.labels]
        listed = [
            (int(self.label_list.item(i).data(Qt.ItemDataRole.UserRole)), self.label_list.item(i).text())
            for i in range(self.label_list.count())
        ]
        if listed != [(v, n) for v, n, _ in shown] or box is None:
            self._table_changed()
        if box is not None:
            self.refresh(box)
        self.edited.emit()
        self._sync()

    # ======================================================================================
    # files
    # ======================================================================================
    def save_to(self, path: str | Path) -> Path | None:
        """Save the segmentation; DICOM SEG marks it MANUAL once edited, AUTOMATIC if accepted as is."""
        if self.editor is None:
            self.window.show_message("No segmentation to save")
            return None
        edited = self.editor.generation > 0 or not self.from_ai
        try:
            out = save_segmentation(
                self.editor.label_map,
                self.window.volume,
                path,
                manual=edited,
                algorithm_name=self.algorithm_name,
            )
        except Exception as exc:
            self.window.show_message(f"Could not save the segmentation: {user_message(exc)}")
            return None
        self.saved_generation = self.editor.generation
        if self.autosaver is not None:
            self.autosaver.saved_by_user(self.editor.generation)
        self.window.show_message(f"Saved segmentation to {out}")
        self.saved.emit(str(out))
        return out

    def load_from(self, path: str | Path) -> bool:
        volume = self.window.volume
        if volume is None:
            self.window.show_message("Open the series the segmentation belongs to first")
            return False
        try:
            lm = load_segmentation(path, volume)
        except Exception as exc:
            self.window.show_message(f"Could not load the segmentation: {user_message(exc)}")
            return False
        self._start(lm, from_ai=False, algorithm=None)
        self.window.show_message(f"Loaded segmentation {Path(path).name}")
        return True

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save segmentation", "segmentation.nii.gz", SEG_FILTERS)
        if path:
            self.save_to(path)

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load segmentation", "", f"{SEG_FILTERS};;All files (*)")
        if path:
            self.load_from(path)

    def save_decision_to(
        self, path: str | Path, agree: bool, corrected_class: str | None = None
    ) -> Path | None:
        """Save the reader's verdict on the AI classification shown (JSON)."""
        result = self.ai_result()
        probs = dict(getattr(result, "probabilities", {}) or {})
        if not probs:
            self.window.show_message("No AI classification to judge")
            return None
        volume = self.window.volume
        plugin_id = str(getattr(result, "plugin_id", ""))
        decision = ClassificationDecision(
            plugin=plugin_id,
            plugin_version=self._plugin_version(plugin_id),
            predicted=max(probs, key=probs.__getitem__),
            agree=agree,
            corrected_class=corrected_class,
            probabilities={k: float(v) for k, v in probs.items()},
            series_uid=volume.meta.series_uid if volume is not None else "",
            source_path=str(volume.meta.source_files[0])
            if volume is not None and volume.meta.source_files
            else "",
        )
        if Path(path).suffix.lower() == ".dcm":  # a DICOM SR that a PACS can archive with the study
            out = self._save_decision_sr(decision, result, path)
            if out is None:
                return None
        else:
            out = save_decision(decision, path)
        self.window.show_message(f"Saved verdict ({decision.final_class}) to {out}")
        return out

    def _plugin_version(self, plugin_id: str) -> str:
        ai = getattr(self.window, "ai", None)
        try:
            return str(ai.registry.manifest(plugin_id).version) if ai is not None else ""
        except Exception:  # an unknown plugin (a result made elsewhere): no version to record
            return ""

    def _save_decision_sr(
        self, decision: ClassificationDecision, result: Any, path: str | Path
    ) -> Path | None:
        from medlens.viewer.io import LoadError
        from medlens.viewer.io.dicom_sr import write_classification_sr

        try:
            return write_classification_sr(
                self.window.volume,
                path,
                plugin=decision.plugin,
                plugin_version=decision.plugin_version,
                probabilities=decision.probabilities,
                slice_probabilities=getattr(result, "slice_probabilities", None),
                padded_end_slices=getattr(result, "padded_end_slices", 0),
                agree=decision.agree,
                final_class=decision.final_class,
            )
        except (LoadError, OSError, ValueError) as exc:
            self.window.show_message(f"Verdict not saved: {user_message(exc)}")
            return None

    def _decision_dialog(self) -> None:
        agree = self.agree_box.currentIndex() == 0
        path, _ = QFileDialog.getSaveFileName(
            self, "Save verdict", "verdict.json", "JSON (*.json);;DICOM SR, for the PACS (*.dcm)"
        )
        if path:
            try:
                self.save_decision_to(path, agree, None if agree else self.class_box.currentText())
            except ValueError as exc:
                self.window.show_message(str(exc))

    # ======================================================================================
    # autosave and recovery
    # ======================================================================================
    def autosave_now(self) -> AutosaveRecord | None:
        if self.editor is None or self.autosaver is None or not self.dirty:
            return None
        try:
            return self.autosaver.tick(self.editor.label_map, self.editor.generation, force=True)
        except Exception as exc:  # a full disk must not take the editing session down
            log.warning("autosave failed: %s", exc)
            self.window.show_message(f"Autosave failed: {user_message(exc)}")
            return None

    def check_recovery(self, volume: Volume | None) -> None:
        bar: RecoveryBar = self.window.recovery_bar
        record = find_autosave(volume) if volume is not None else None
        if record is not None and self.editor is None:
            bar.offer(record, f"An {record.describe()} exists for this series.")
        elif bar.record is not None and volume is not None and bar.record.matches(volume):
            bar.clear()

    def offer_pending_autosaves(self) -> None:
        """At start: say that unsaved work exists (it is restored when its series is opened)."""
        records = list_autosaves()
        if records:
            r = records[0]
            where = r.source_path or r.series_uid
            self.window.recovery_bar.offer(
                r, f"An {r.describe()} exists ({where}). Open that study to recover."
            )

    def recover(self) -> bool:
        bar: RecoveryBar = self.window.recovery_bar
        record, volume = bar.record, self.window.volume
        if record is None:
            return False
        if volume is None or not record.matches(volume):
            if record.source_path and Path(record.source_path).exists():
                self.window.open_paths([record.source_path])  # recovery is offered again once it loads
            else:
                self.window.show_message("Open the study this segmentation belongs to, then recover")
            return False
        try:
            lm = load_autosave(record, volume)
        except Exception as exc:
            self.window.show_message(f"Could not recover: {user_message(exc)}")
            return False
        bar.clear()
        self._start(lm, from_ai=False, algorithm=None)
        assert self.editor is not None
        self.editor.generation = 1  # recovered work is unsaved work
        self.autosaver.record = record  # type: ignore[union-attr]
        self.window.show_message("Segmentation recovered — save it to keep it")
        return True

    def discard_recovery(self) -> None:
        bar: RecoveryBar = self.window.recovery_bar
        discard_autosave(bar.record)
        bar.clear()


def install_segmentation_dock(window: Any) -> QDockWidget:
    """Create (once) the Segmentation dock, its menu, shortcuts, recovery bar and pane handlers."""
    dock = getattr(window, "segmentation_dock", None)
    if dock is not None:
        return dock
    window.recovery_bar = RecoveryBar(window)
    window.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, window.recovery_bar)
    panel = SegmentationPanel(window)
    dock = QDockWidget("Segmentation", window)
    dock.setObjectName("segmentation")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    dock.hide()  # shown when there is a segmentation to review or edit (menu: Segmentation)
    window.segmentation_dock = dock
    window.segmentation = panel
    window.recovery_bar.recover_button.clicked.connect(panel.recover)
    window.recovery_bar.discard_button.clicked.connect(panel.discard_recovery)

    def action(text: str, slot: Any, shortcut: Any = None) -> QAction:
        a = QAction(text, window)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(slot)
        window.addAction(a)
        return a

    panel.undo_action = action("&Undo", panel.undo, QKeySequence.StandardKey.Undo)
    panel.redo_action = action("&Redo", panel.redo, "Ctrl+Shift+Z")
    panel.shrink_action = action("Smaller brush", panel.shrink_brush, "[")
    panel.grow_action = action("Larger brush", panel.grow_brush, "]")
    menu = window.menuBar().addMenu("&Segmentation")
    menu.addAction("&Accept AI result", lambda: panel.accept())
    menu.addAction("&Reject AI result", panel.reject)
    menu.addAction("&New segmentation", panel.new_segmentation)
    menu.addSeparator()
    menu.addAction(panel.undo_action)
    menu.addAction(panel.redo_action)
    menu.addAction(panel.shrink_action)
    menu.addAction(panel.grow_action)
    menu.addSeparator()
    menu.addAction("&Save segmentation…", panel._save_dialog)
    menu.addAction("&Load segmentation…", panel._load_dialog)
    menu.addAction("Save classification &verdict…", panel._decision_dialog)
    menu.addSeparator()
    menu.addAction(dock.toggleViewAction())

    for pane in window.slice_panes:
        pane.controller.edit_handler = panel.handler
    window.volume_shown.connect(panel.volume_changed)
    ai = getattr(window, "ai", None)
    if ai is not None and hasattr(ai, "result_ready"):
        ai.result_ready.connect(panel.ai_result_ready)
    for tool, a in getattr(window, "tool_actions", {}).items():
        a.toggled.connect(lambda on, t=tool: on and panel.tool_changed(t))
    panel.offer_pending_autosaves()
    panel._sync()
    return dock


__all__ = ["RecoveryBar", "SegmentationPanel", "install_segmentation_dock"]
