"""The MedLens main window: four linked panes, the study browser, menus and background loading.

A thin layer: reading is ``medlens.viewer.io``, drawing is ``medlens.viewer.render``, gesture rules
are :mod:`.interaction`, preset rules :mod:`.presets`, layout state :mod:`.layout`. What lives here
is wiring, and the one rule that matters for responsiveness: every scan, load and thumbnail runs in
a :class:`~medlens.app.jobs.Job`, so the event loop is never blocked.

Progressive loading: ``load_series`` fills the volume's array in place on a worker thread and calls
``on_first_slice`` once the middle slice is in; the job hands that (partly filled) volume to the GUI
thread, which shows it at once and then re-draws on the (rate-limited) progress signal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeySequence,
    QPainter,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QGridLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QToolBar,
    QWidget,
)

from medlens.app import presets
from medlens.app.errors import user_message
from medlens.app.jobs import Job, JobContext
from medlens.app.layout import GRID_POSITION, PANES, SLICE_PANES, TITLES, LayoutState
from medlens.app.panes import Pane, SlicePane, VolumePane
from medlens.app.readout import format_readout
from medlens.app.settings import RecentStudies
from medlens.app.study_browser import StudyBrowser
from medlens.app.tools import TOOL_INFO, Tool
from medlens.viewer import io as vio
from medlens.viewer.model import Volume

log = logging.getLogger(__name__)

CUSTOM = "Custom"
MESSAGE_MS = 8000


@dataclass
class ScanSummary:
    """``scan()`` results of several paths merged (Open file(s) may pick many)."""

    paths: list[str]
    series: list[Any] = field(default_factory=list)
    skipped_files: list[Any] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)


def scan_paths(paths: Iterable[str], ctx: JobContext | None = None) -> ScanSummary:
    """Scan each path, merging the series lists (worker thread)."""
    paths = [str(p) for p in paths]
    summary = ScanSummary(paths)
    seen: set[str] = set()
    for n, path in enumerate(paths):
        if ctx is not None:
            ctx.raise_if_cancelled()
            ctx.message(f"Scanning {path}…")
        if not Path(path).exists():
            summary.errors.append(f"{path}: no such file or folder")
            continue
        result = vio.scan(path)
        for info in result.series:
            if str(info.key) not in seen:
                seen.add(str(info.key))
                summary.series.append(info)
        summary.skipped_files.extend(str(p) for p in result.skipped_paths)
        summary.errors.extend(result.errors)
        if ctx is not None:
            ctx.progress(n + 1, len(paths))
    return summary


def _problem_text(entry: Any) -> str:
    if isinstance(entry, tuple | list) and len(entry) == 2:
        return f"{entry[0]}: {entry[1]}"
    return " ".join(str(entry).split())


def make_thumbnails(series: list[Any], ctx: JobContext) -> None:
    """Compute one thumbnail per series from its middle file (worker thread; partial = (key, px))."""
    for info in series:
        ctx.raise_if_cancelled()
        files = list(getattr(info, "files", []) or [])
        if not files:
            continue
        try:
            volume = vio.read_image_file(files[len(files) // 2])
            pixels = vio.thumbnail(volume, size=96)
        except Exception as exc:  # a bad file only costs its thumbnail
            log.debug("no thumbnail for %s: %s", info.key, exc)
            continue
        ctx.partial((str(info.key), pixels))


class MainWindow(QMainWindow):
    """Signals exist mainly so tests (and later the AI tools) can wait on what happened."""

    scan_finished = Signal(object)  # ScanSummary
    volume_shown = Signal(object)  # Volume, possibly still filling
    load_finished = Signal(object)  # the complete Volume
    load_failed = Signal(str)
    load_cancelled = Signal()
    message_shown = Signal(str)

    def __init__(self, recent: RecentStudies | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("MedLens — not for clinical use")
        self.resize(1280, 860)
        self.setAcceptDrops(True)
        self.recent = recent or RecentStudies()
        self.layout_state = LayoutState()
        self.volume: Volume | None = None
        self.series_key: str | None = None
        self.last_message = ""
        self.cursor_lps: np.ndarray | None = None
        self.window_preset: str | None = None  # preset name, None for the file's window, CUSTOM
        self.tool = Tool.NAVIGATE
        self._load_job: Job | None = None
        self._loading_key: str | None = None
        self._loading_key_done: str | None = None
        self._loading_volume: Volume | None = None  # the array the running load fills in place
        self._scan_job: Job | None = None
        self._thumb_job: Job | None = None
        self._closed = False

        self._build_panes()
        self._build_docks()
        self._build_status_bar()
        self._build_actions()
        self._build_menus_and_toolbar()
        self._build_ai()
        from medlens.app.segmentation_dock import install_segmentation_dock

        install_segmentation_dock(self)  # accept/reject/edit AI masks; Ctrl+Z, [ ], autosave
        self._apply_layout()
        self._update_preset_controls()

    # ======================================================================================
    # construction
    # ======================================================================================
    def _build_panes(self) -> None:
        central = QWidget(self)
        grid = QGridLayout(central)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        self.panes: dict[str, Pane] = {}
        for name in SLICE_PANES:
            self.panes[name] = SlicePane(name, _Hooks(self, name), central)
        self.panes["3d"] = VolumePane(central)
        for name, pane in self.panes.items():
            pane.setToolTip(f"{TITLES[name]} — double-click to maximise / restore")
            pane.double_clicked.connect(self.toggle_maximise)
            grid.addWidget(pane, *GRID_POSITION[name])
        self.setCentralWidget(central)

    @property
    def slice_panes(self) -> list[SlicePane]:
        return [self.panes[n] for n in SLICE_PANES]  # type: ignore[misc]

    def _build_docks(self) -> None:
        self.browser = StudyBrowser(self)
        self.browser.series_activated.connect(self.load_series)
        self.browser_dock = QDockWidget("Studies", self)
        self.browser_dock.setObjectName("studies")
        self.browser_dock.setWidget(self.browser)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.browser_dock)

        self.problems = QListWidget(self)
        self.problems_dock = QDockWidget("Problems", self)
        self.problems_dock.setObjectName("problems")
        self.problems_dock.setWidget(self.problems)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.problems_dock)
        self.problems_dock.hide()

        self.measurements = QListWidget(self)
        self.measurements_dock = QDockWidget("Measurements", self)
        self.measurements_dock.setObjectName("measurements")
        self.measurements_dock.setWidget(self.measurements)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.measurements_dock)
        self.measurements_dock.hide()

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.readout_label = QLabel("", self)
        self.readout_label.setMinimumWidth(360)
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(200)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop loading")
        self.cancel_button.clicked.connect(self.cancel_load)
        bar.addPermanentWidget(self.readout_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        self._set_busy(False)

    def _build_actions(self) -> None:
        def action(text: str, slot: Any, shortcut: Any = None, checkable: bool = False) -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            a.setCheckable(checkable)
            a.triggered.connect(slot)
            self.addAction(a)  # shortcuts work whichever widget has focus
            return a

        self.act_open_folder = action(
            "Open &folder…", self._open_folder_dialog, QKeySequence.StandardKey.Open
        )
        self.act_open_files = action("Open &file(s)…", self._open_files_dialog, "Ctrl+Shift+O")
        self.act_quit = action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_corner = action(
            "Patient/study &info", lambda on: self.set_corner_text_visible(on), "Ctrl+I", checkable=True
        )
        self.act_corner.setChecked(True)
        self.act_reset = action("&Reset views", self.reset_views, "Ctrl+0")
        self.act_about = action("&About MedLens", self.show_about)

        self.tool_group = QActionGroup(self)
        self.tool_actions: dict[Tool, QAction] = {}
        for tool, info in TOOL_INFO.items():
            a = action(info.label, lambda _=False, t=tool: self.set_tool(t), info.shortcut, checkable=True)
            a.setToolTip(f"{info.label} ({info.shortcut}): {info.tip}")
            self.tool_group.addAction(a)
            self.tool_actions[tool] = a
        self.tool_actions[Tool.NAVIGATE].setChecked(True)

        self.layout_group = QActionGroup(self)
        self.layout_actions: dict[str | None, QAction] = {}
        for n, (key, text) in enumerate([(None, "&Quad"), *((p, f"&{TITLES[p]} only") for p in PANES)]):
            a = action(text, lambda _=False, k=key: self.set_layout(k), f"Ctrl+{n + 1}", checkable=True)
            self.layout_group.addAction(a)
            self.layout_actions[key] = a

        self.window_group = QActionGroup(self)
        self.window_actions: dict[str, QAction] = {}
        for name in [*presets.ct_preset_names(), presets.AUTO]:
            a = action(presets.preset_label(name), lambda _=False, n=name: self.apply_window_preset(n))
            a.setCheckable(True)
            self.window_group.addAction(a)
            self.window_actions[name] = a

    def _build_menus_and_toolbar(self) -> None:
        mb = self.menuBar()
        m_file = mb.addMenu("&File")
        m_file.addAction(self.act_open_folder)
        m_file.addAction(self.act_open_files)
        self.act_open_pacs = m_file.addAction("Open from &PACS…", self.show_pacs_dock)
        self.recent_menu = m_file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        m_file.addSeparator()
        m_file.addAction(self.act_quit)

        m_view = mb.addMenu("&View")
        m_view.addAction(self.act_corner)
        m_view.addAction(self.act_reset)
        m_view.addSeparator()
        for dock in (self.browser_dock, self.problems_dock, self.measurements_dock):
            m_view.addAction(dock.toggleViewAction())

        m_layout = mb.addMenu("&Layout")
        for a in self.layout_actions.values():
            m_layout.addAction(a)

        m_tools = mb.addMenu("&Tools")
        for a in self.tool_actions.values():
            m_tools.addAction(a)

        m_window = mb.addMenu("&Window/level")
        for a in self.window_actions.values():
            m_window.addAction(a)

        m_help = mb.addMenu("&Help")
        m_help.addAction(self.act_about)

        tb = QToolBar("Tools", self)
        tb.setObjectName("tools")
        tb.addAction(self.act_open_folder)
        tb.addSeparator()
        for a in self.tool_actions.values():
            tb.addAction(a)
        tb.addSeparator()
        tb.addWidget(QLabel(" W/L ", self))
        self.window_combo = QComboBox(self)
        self.window_combo.setToolTip("Window/level preset for the slice panes")
        self.window_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.window_combo.setMinimumContentsLength(14)
        self.window_combo.activated.connect(self._window_combo_activated)
        tb.addWidget(self.window_combo)
        tb.addWidget(QLabel(" 3D ", self))
        self.volume_combo = QComboBox(self)
        self.volume_combo.setToolTip("3D rendering preset")
        self.volume_combo.addItems(list(self._volume_presets()))
        self.volume_combo.activated.connect(lambda i: self.set_volume_preset(self.volume_combo.itemText(i)))
        tb.addWidget(self.volume_combo)
        self.addToolBar(tb)
        self.toolbar = tb

    def _build_ai(self) -> None:
        """The AI assist dock and menu (:mod:`medlens.app.ai_panel`); ``self.ai`` is the panel."""
        from medlens.app.ai_panel import install_ai_panel

        self.ai = install_ai_panel(self)

    @staticmethod
    def _volume_presets() -> tuple[str, ...]:
        try:
            from medlens.viewer.render import VolumeView
        except ImportError:
            return presets.VOLUME_PRESETS
        return tuple(getattr(VolumeView, "PRESETS", presets.VOLUME_PRESETS))

    # ======================================================================================
    # messages and status
    # ======================================================================================
    def show_message(self, text: str, timeout_ms: int = MESSAGE_MS) -> None:
        """One line in the status bar; what every user-caused error ends up as."""
        self.last_message = text
        self.statusBar().showMessage(text, timeout_ms)
        self.message_shown.emit(text)

    def add_problems(self, entries: Iterable[Any], title: str | None = None) -> None:
        """List non-fatal problems (skipped files, unreadable series) in the Problems dock."""
        texts = [_problem_text(e) for e in entries]
        if not texts:
            return
        if title:
            self.problems.addItem(title)
        self.problems.addItems([f"  {t}" for t in texts])
        self.problems_dock.show()

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)  # indeterminate until the first progress report
            self.progress.setFormat(text or "%p%")

    # ======================================================================================
    # opening studies
    # ======================================================================================
    def open_paths(self, paths: Iterable[str | Path]) -> Job | None:
        """Scan files/folders in the background, list their series and load the first one."""
        paths = [str(p) for p in paths]
        if not paths:
            return None
        if self._scan_job is not None:
            self._scan_job.cancel()
        self._cancel_thumbnails()
        job = Job(lambda ctx: scan_paths(paths, ctx), name="scan", message_for=user_message, parent=self)
        job.message.connect(self.show_message)
        job.finished.connect(self._scan_done)
        job.failed.connect(lambda text, _exc: self._scan_failed(text))
        job.cancelled.connect(lambda: self._set_busy(self._busy()))
        self._scan_job = job
        self._set_busy(True, "Scanning…")
        self.show_message(f"Scanning {', '.join(paths)}…")
        return job.start()

    def _busy(self) -> bool:
        return any(j is not None and j.is_running for j in (self._scan_job, self._load_job))

    def _scan_failed(self, text: str) -> None:
        self._set_busy(self._busy())
        self.show_message(f"Could not read the study: {text}")
        self.add_problems([text], "Scan failed")

    def _scan_done(self, summary: ScanSummary) -> None:
        self._set_busy(self._busy())
        self.problems.clear()
        self.add_problems(summary.errors, "Errors")
        self.add_problems(summary.skipped_files, f"Skipped files ({len(summary.skipped_files)})")
        self.scan_finished.emit(summary)
        where = ", ".join(summary.paths)
        if not summary.series:
            self.show_message(f"No readable images found in {where}")
            return
        for p in summary.paths:
            self.recent.add(p)
        self.browser.set_series(summary.series)
        n = len(summary.series)
        note = f" ({len(summary.skipped_files)} files skipped)" if summary.skipped_files else ""
        self.show_message(f"Found {n} series in {where}{note}")
        first = next((s for s in summary.series if getattr(s, "n_slices", 1) > 1), summary.series[0])
        self.load_series(first)
        self._start_thumbnails(summary.series)

    def _start_thumbnails(self, series: list[Any]) -> None:
        self._cancel_thumbnails()
        job = Job(lambda ctx: make_thumbnails(series, ctx), name="thumbnails", parent=self)
        job.partial.connect(lambda kp: self.browser.set_thumbnail(*kp))
        self._thumb_job = job.start()

    def _cancel_thumbnails(self) -> None:
        if self._thumb_job is not None:
            self._thumb_job.cancel()

    # -- loading ------------------------------------------------------------------------------
    def load_series(self, info: Any) -> Job | None:
        """Load one series progressively; a new request cancels the one running."""
        key = str(info.key)
        if key == self._loading_key or (key == self.series_key and self._load_job is None):
            return self._load_job  # already loading/loaded (a double-click also sends a click)
        self.cancel_load()
        cancel_types = tuple(t for t in (getattr(vio, "LoadCancelled", None),) if t is not None)
        user_types = tuple(t for t in (getattr(vio, "LoadError", None),) if t is not None)

        def work(ctx: JobContext) -> Volume:
            return vio.load_series(
                info, progress=ctx.progress, cancel=ctx.cancel_event, on_first_slice=ctx.partial
            )

        job = Job(
            work,
            name=f"load {key}",
            cancel_exceptions=cancel_types,
            expected_errors=user_types,
            message_for=user_message,
            parent=self,
        )
        job.partial.connect(lambda vol: self._load_first_slice(job, vol))
        job.progress.connect(lambda done, total: self._load_progress(job, done, total))
        job.finished.connect(lambda vol: self._load_done(job, vol))
        job.failed.connect(lambda text, _exc: self._load_failed(job, text))
        job.cancelled.connect(lambda: self._load_cancelled(job))
        self._load_job = job
        self._loading_key = key
        self._loading_info = info
        self.browser.mark_current(key)
        self._set_busy(True, "Loading %p%")
        self.show_message(f"Loading {getattr(info, 'description', '') or key}…", 0)
        return job.start()

    def cancel_load(self) -> None:
        if self._load_job is not None and self._load_job.is_running:
            self._load_job.cancel()
        if self._scan_job is not None and self._scan_job.is_running:
            self._scan_job.cancel()

    def _load_first_slice(self, job: Job, volume: Volume) -> None:
        if job is self._load_job:
            self._loading_volume = volume
            self.show_volume(volume, loading=True)

    def _load_progress(self, job: Job, done: int, total: int) -> None:
        if job is not self._load_job:
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        if self.volume is not None and self.volume is self._loading_volume:
            self.refresh_slices()

    def _load_done(self, job: Job, volume: Volume) -> None:
        if job is not self._load_job:
            return
        self._finish_load_job()
        if volume is not self.volume:
            self.show_volume(volume)
        else:
            self._volume_complete(volume)
        self.series_key = self._loading_key_done
        self.browser.mark_current(self.series_key)
        try:
            self.browser.set_thumbnail(self.series_key, vio.thumbnail(volume, size=96))
        except Exception as exc:
            log.debug("no thumbnail: %s", exc)
        warn = getattr(volume.meta, "warnings", None) or []
        self.add_problems(warn, "Warnings")
        shape = " × ".join(str(v) for v in volume.shape_xyz)
        self.show_message(f"Loaded {volume.meta.series_description or 'series'} ({shape})")
        self.load_finished.emit(volume)

    def _load_failed(self, job: Job, text: str) -> None:
        if job is not self._load_job:
            return
        self._finish_load_job()
        self.show_message(f"Could not load the series: {text}")
        self.add_problems([text], "Load failed")
        self.load_failed.emit(text)

    def _load_cancelled(self, job: Job) -> None:
        if job is not self._load_job:
            return
        incomplete = self.volume is not None and self.volume is self._loading_volume
        self._finish_load_job()
        if incomplete:
            self.refresh_slices()
        self.show_message("Loading cancelled" + (" — the image shown is incomplete" if incomplete else ""))
        self.load_cancelled.emit()

    def _finish_load_job(self) -> None:
        self._loading_key_done = self._loading_key
        self._load_job = None
        self._loading_key = None
        self._loading_volume = None
        self._set_busy(self._busy())
        self.statusBar().clearMessage()

    # ======================================================================================
    # showing a volume
    # ======================================================================================
    def show_volume(self, volume: Volume, loading: bool = False) -> None:
        """Put ``volume`` in every pane (tests and the AI tools call this directly).

        With ``loading`` the array is still being filled: only its middle slice is trusted, so
        the 3D pane waits for the complete volume and an automatic window is taken from that slice.
        """
        self.volume = volume
        for pane in self.slice_panes:
            pane.set_volume(volume)
            pane.view.set_corner_text_visible(self.act_corner.isChecked())
        mid = volume.array.shape[0] // 2
        preset, (centre, width) = presets.initial_window(volume, partial_slice=mid if loading else None)
        self._set_window(centre, width, preset)
        x, y, z = volume.shape_xyz
        self.set_cursor_lps(volume.index_to_lps(((x - 1) / 2, (y - 1) / 2, (z - 1) / 2)), draw=False)
        self._update_preset_controls()
        if not loading:
            self._show_3d(volume)
        else:
            self.panes["3d"].has_volume = False
        self.draw_all()
        self.volume_shown.emit(volume)

    def _volume_complete(self, volume: Volume) -> None:
        """The progressive load finished: redo what depended on the full data."""
        self.refresh_slices()
        if self.window_preset == presets.AUTO:
            self._set_window(*presets.auto_window(volume), presets.AUTO)
        self._show_3d(volume)

    def _show_3d(self, volume: Volume) -> None:
        pane = self.panes["3d"]
        try:
            pane.set_volume(volume)
            name = presets.volume_preset_for(volume)
            pane.view.set_preset(name)
            self.volume_combo.setCurrentText(name)
            if hasattr(pane.view, "reset_camera"):
                pane.view.reset_camera()
            pane.draw()
        except Exception as exc:  # a 3D failure must not take the slice panes with it
            log.exception("3D view failed")
            self.show_message(f"3D view unavailable: {user_message(exc)}")

    def refresh_slices(self) -> None:
        """The array changed in place (progressive load): re-upload and redraw the slice panes."""
        for pane in self.slice_panes:
            if pane.has_volume:
                pane.view.refresh_data()
                pane.draw()

    def snapshot(self) -> QImage:
        """The whole window as an image: Qt draws the chrome, VTK read-back fills the panes.

        ``QWidget.grab`` cannot see what OpenGL drew into the panes (it returns garbage there),
        so each visible pane's own capture is pasted over its place.
        """
        image = self.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        painter = QPainter(image)
        try:
            for pane in self.panes.values():
                if not pane.isVisible():
                    continue
                px = np.ascontiguousarray(pane.capture())
                h, w, _ = px.shape
                tile = QImage(px.data, w, h, 3 * w, QImage.Format.Format_RGB888)
                target = QRect(pane.mapTo(self, QPoint(0, 0)), QSize(pane.width(), pane.height()))
                painter.drawImage(target, tile)
        finally:
            painter.end()
        return image

    def draw_all(self) -> None:
        for pane in self.panes.values():
            if pane.has_volume:
                pane.draw()

    # ======================================================================================
    # linked state: crosshair, window/level, tools
    # ======================================================================================
    def set_cursor_lps(self, lps: Any, draw: bool = True) -> None:
        """Move the linked crosshair; every slice pane goes to the slice through ``lps``."""
        self.cursor_lps = np.asarray(lps, dtype=float)
        for pane in self.slice_panes:
            if pane.has_volume:
                pane.view.set_cursor_lps(self.cursor_lps)
                if draw:
                    pane.draw()

    def _slice_scrolled(self, name: str) -> None:
        """Scrolling one pane moves the crosshair along its normal, so the others follow."""
        pane = self.panes[name]
        if self.cursor_lps is None or not pane.has_volume:
            return
        self.set_cursor_lps(pane.view.project_to_plane(self.cursor_lps))

    def set_window(self, centre: float, width: float) -> None:
        """A window/level chosen by hand (drag or API): applied to all slice panes."""
        self._set_window(centre, width, CUSTOM)

    def _set_window(self, centre: float, width: float, preset: str | None) -> None:
        self.window_preset = preset
        for pane in self.slice_panes:
            if pane.has_volume:
                pane.view.set_window(float(centre), float(width))
                pane.draw()
        self._sync_window_controls()

    def apply_window_preset(self, name: str) -> None:
        if self.volume is None:
            self.show_message("Open a study first")
            return
        if name not in presets.window_presets_for(self.volume):
            self.show_message(f"{presets.preset_label(name)} applies to CT only")
            return
        self._set_window(*presets.preset_window(name, self.volume), name)

    def _window_combo_activated(self, index: int) -> None:
        name = self.window_combo.itemData(index)
        if name:
            self.apply_window_preset(name)

    def _update_preset_controls(self) -> None:
        allowed = presets.window_presets_for(self.volume) if self.volume is not None else []
        for name, a in self.window_actions.items():
            a.setEnabled(name in allowed)
        self.window_combo.blockSignals(True)
        self.window_combo.clear()
        for name in allowed:
            self.window_combo.addItem(presets.preset_label(name), name)
        self.window_combo.addItem(CUSTOM, "")
        self.window_combo.blockSignals(False)
        self._sync_window_controls()

    def _sync_window_controls(self) -> None:
        name = self.window_preset
        for key, a in self.window_actions.items():
            a.setChecked(key == name)
        index = self.window_combo.findData(name) if name else -1
        self.window_combo.blockSignals(True)
        self.window_combo.setCurrentIndex(index if index >= 0 else self.window_combo.count() - 1)
        self.window_combo.blockSignals(False)

    @property
    def window(self) -> tuple[float, float] | None:
        pane = self.slice_panes[0]
        return tuple(pane.view.window) if pane.has_volume else None  # type: ignore[return-value]

    def set_volume_preset(self, name: str) -> None:
        pane = self.panes["3d"]
        self.volume_combo.setCurrentText(name)
        if pane.has_volume:
            pane.view.set_preset(name)
            pane.draw()

    def set_tool(self, tool: Tool) -> None:
        self.tool = tool
        self.tool_actions[tool].setChecked(True)
        for pane in self.slice_panes:
            pane.controller.set_tool(tool)
        self.show_message(f"{tool.info.label}: {tool.info.tip}", 4000)

    def set_corner_text_visible(self, on: bool) -> None:
        self.act_corner.setChecked(on)
        for pane in self.slice_panes:
            if pane.has_volume:
                pane.view.set_corner_text_visible(on)
                pane.draw()

    def reset_views(self) -> None:
        for pane in self.panes.values():
            if pane.has_volume:
                pane.view.reset_camera()
                pane.draw()

    # ======================================================================================
    # layout
    # ======================================================================================
    def set_layout(self, single: str | None) -> None:
        if single is None:
            self.layout_state.set_quad()
        else:
            self.layout_state.set_single(single)
        self._apply_layout()

    def toggle_maximise(self, name: str) -> None:
        self.layout_state.toggle_maximise(name)
        self._apply_layout()

    def _apply_layout(self) -> None:
        visible = self.layout_state.visible()
        for name, pane in self.panes.items():
            pane.setVisible(name in visible)
        self.layout_actions[self.layout_state.single].setChecked(True)

    # ======================================================================================
    # file menu, about, drag and drop, close
    # ======================================================================================
    def show_pacs_dock(self) -> None:
        """Show the PACS dock (created on first use: no PACS code runs until asked for)."""
        from medlens.app.pacs_dock import install_pacs_dock

        dock = install_pacs_dock(self)
        dock.show()
        dock.raise_()

    def _open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open study folder", self._last_dir())
        if folder:
            self.open_paths([folder])

    def _open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Open image file(s)",
            self._last_dir(),
            "Medical images (*.dcm *.nii *.nii.gz *.nrrd *.mha *.mhd *);;All files (*)",
        )
        if files:
            self.open_paths(files)

    def _last_dir(self) -> str:
        items = self.recent.items()
        return str(Path(items[0]).parent) if items else str(Path.home())

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        items = self.recent.items()
        for path in items:
            a = self.recent_menu.addAction(path)
            a.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
        if not items:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(self.recent.clear)

    def show_about(self) -> None:
        from medlens.app.about import show_about  # versions, licences, "Not for clinical use"

        self.about_box = show_about(self)

    def dragEnterEvent(self, ev: QDragEnterEvent) -> None:
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_paths(paths)

    def closeEvent(self, ev: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(ev)

    def shutdown(self, wait_s: float = 3.0) -> None:
        """Stop background work and release every OpenGL context (idempotent)."""
        if self._closed:
            return
        self._closed = True
        segmentation = getattr(self, "segmentation", None)
        if segmentation is not None and segmentation.autosave_now() is not None:
            # unsaved edits survive a plain quit the way they survive a crash: offered at next start
            log.info("unsaved segmentation kept as an autosave")
        jobs = [j for j in (self._scan_job, self._load_job, self._thumb_job) if j is not None]
        for job in jobs:
            job.cancel()
        for job in jobs:
            job.wait(wait_s)
        if getattr(self, "ai", None) is not None:
            self.ai.shutdown(wait_s)  # cancels a running plugin, closes the comparison pane
        for pane in list(self.panes.values()):
            pane.finalize()


class _Hooks:
    """Routes one slice pane's gestures to the window (the ``InteractionHooks`` protocol)."""

    def __init__(self, window: MainWindow, name: str) -> None:
        self.window = window
        self.name = name

    def cursor_moved(self, lps: np.ndarray) -> None:
        self.window.set_cursor_lps(lps)

    def window_changed(self, centre: float, width: float) -> None:
        self.window.set_window(centre, width)

    def readout_changed(self, readout: dict[str, Any] | None) -> None:
        self.window.readout_label.setText(format_readout(readout))

    def slice_changed(self, view: Any) -> None:
        self.window._slice_scrolled(self.name)

    def measurement_added(self, kind: str, obj: Any, text: str) -> None:
        self.window.measurements.addItem(f"{TITLES[self.name]}: {text}")
        self.window.measurements_dock.show()
        self.window.show_message(text)
