"""The PACS dock: search studies on a configured server, retrieve one, send DICOM (e.g. SEG) back.

A thin layer over :mod:`medlens.pacs` (the same functions ``medlens pacs …`` runs): every network
call is a :class:`~medlens.app.jobs.Job`, so a slow or dead PACS never freezes the window. A
retrieve hands each series' volume to the window as soon as its first slice is decoded
(``volume_arrived``) and the window redraws as it fills; at the end the cached study is opened
like a folder, so its series are listed in the study browser. Failures are one line in the dock.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from medlens.app.jobs import Job, JobContext
from medlens.pacs.backend import connect_named
from medlens.pacs.commands import dicom_files
from medlens.pacs.config import ServerRegistry
from medlens.pacs.errors import PacsError
from medlens.pacs.records import QueryFilters, StudyRecord
from medlens.pacs.retrieve import RetrieveCancelled, RetrieveResult, retrieve_study

COLUMNS = ("Patient", "ID", "Date", "Modalities", "Description", "Series")


def default_cache_root() -> Path:
    """``$MEDLENS_CACHE_DIR/pacs`` or the platform's user cache folder."""
    env = os.environ.get("MEDLENS_CACHE_DIR")
    if env:
        return Path(env) / "pacs"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("medlens", appauthor=False)) / "pacs"


def _message(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, PacsError) else f"Unexpected error ({type(exc).__name__}): {text}"


class PacsPanel(QWidget):
    """The dock's contents; signals let the window (and tests) follow what happens."""

    studies_found = Signal(list)  # list[StudyRecord]
    volume_arrived = Signal(object)  # Volume, possibly still filling
    volume_progress = Signal(int, int)
    retrieve_finished = Signal(object)  # RetrieveResult
    sent = Signal(int)
    failed = Signal(str)

    def __init__(
        self,
        registry: ServerRegistry | None = None,
        cache_root: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.registry = registry or ServerRegistry()
        self.cache_root = cache_root or default_cache_root()
        self.studies: list[StudyRecord] = []
        self.job: Job | None = None

        self.server_box = QComboBox(self)
        self.protocol_box = QComboBox(self)
        self.protocol_box.addItems(["auto", "dicomweb", "dimse"])
        self.patient = QLineEdit(self)
        self.patient.setPlaceholderText("name or ID, * wildcards")
        self.modality = QLineEdit(self)
        self.modality.setPlaceholderText("CT, MR, SEG…")
        self.date = QLineEdit(self)
        self.date.setPlaceholderText("YYYYMMDD or YYYYMMDD-YYYYMMDD")
        form = QFormLayout()
        form.addRow("Server", self.server_box)
        form.addRow("Protocol", self.protocol_box)
        form.addRow("Patient", self.patient)
        form.addRow("Modality", self.modality)
        form.addRow("Date", self.date)

        self.search_button = QPushButton("Search", self)
        self.retrieve_button = QPushButton("Retrieve", self)
        self.send_button = QPushButton("Send…", self)
        self.send_button.setToolTip("Send DICOM files (e.g. a DICOM SEG you chose to archive) to this PACS")
        self.cancel_button = QPushButton("Cancel", self)
        buttons = QHBoxLayout()
        for b in (self.search_button, self.retrieve_button, self.send_button, self.cancel_button):
            buttons.addWidget(b)

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.progress = QProgressBar(self)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

        self.search_button.clicked.connect(self.search)
        self.retrieve_button.clicked.connect(lambda: self.retrieve_selected())
        self.send_button.clicked.connect(self._send_dialog)
        self.cancel_button.clicked.connect(self.cancel)
        self.patient.returnPressed.connect(self.search)
        self.table.doubleClicked.connect(lambda _i: self.retrieve_selected())
        self.reload_servers()
        self._busy(False)

    # -- state ---------------------------------------------------------------------------------
    def reload_servers(self) -> None:
        self.server_box.clear()
        try:
            names = list(self.registry.servers())
        except PacsError as exc:
            names = []
            self.show_status(str(exc))
        self.server_box.addItems(names)
        if not names:
            self.show_status("No PACS configured: add one with `medlens pacs servers add`.")

    def show_status(self, text: str) -> None:
        self.status.setText(text)

    def _busy(self, busy: bool) -> None:
        for b in (self.search_button, self.retrieve_button, self.send_button):
            b.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        if not busy:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)

    def _backend(self) -> Any:
        protocol = self.protocol_box.currentText()
        return connect_named(
            self.server_box.currentText() or None, self.registry, None if protocol == "auto" else protocol
        )

    def _run(self, name: str, fn: Any) -> Job:
        if self.job is not None and self.job.is_running:
            self.job.cancel()
        job = Job(
            fn,
            name=name,
            cancel_exceptions=(RetrieveCancelled,),
            expected_errors=(PacsError,),
            message_for=_message,
            parent=self,
        )
        job.failed.connect(lambda text, _exc: self._failed(text))
        job.cancelled.connect(lambda: (self._busy(False), self.show_status(f"{name} cancelled")))
        job.progress.connect(self._progress)
        self.job = job
        self._busy(True)
        return job

    def _progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.volume_progress.emit(done, total)

    def _failed(self, text: str) -> None:
        self._busy(False)
        self.show_status(text)
        self.failed.emit(text)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    # -- actions -------------------------------------------------------------------------------
    def search(self) -> Job | None:
        filters = QueryFilters(
            patient=self.patient.text().strip(),
            modality=self.modality.text().strip(),
            date=self.date.text().strip(),
        )

        def work(_ctx: JobContext) -> list[StudyRecord]:
            backend = self._backend()
            try:
                return backend.find_studies(filters)
            finally:
                backend.close()

        job = self._run("search", work)
        job.finished.connect(self._show_studies)
        self.show_status("Searching…")
        return job.start()

    def _show_studies(self, studies: list[StudyRecord]) -> None:
        self._busy(False)
        self.studies = studies
        self.table.setRowCount(len(studies))
        for row, s in enumerate(studies):
            values = (
                s.patient_name,
                s.patient_id,
                s.study_date,
                "/".join(s.modalities),
                s.description,
                "" if s.n_series is None else str(s.n_series),
            )
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, s.study_uid)
                self.table.setItem(row, col, item)
        if studies:
            self.table.selectRow(0)
        self.show_status(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found")
        self.studies_found.emit(studies)

    def retrieve_selected(self, study_uid: str | None = None) -> Job | None:
        if study_uid is None:
            row = self.table.currentRow()
            if row < 0 or row >= len(self.studies):
                self.show_status("Select a study first")
                return None
            study_uid = self.studies[row].study_uid
        root = self.cache_root

        def work(ctx: JobContext) -> RetrieveResult:
            backend = self._backend()
            try:
                return retrieve_study(
                    backend,
                    study_uid,
                    root,
                    progress=ctx.progress,
                    cancel=ctx.cancel_event,
                    on_first_slice=ctx.partial,
                )
            finally:
                backend.close()

        job = self._run("retrieve", work)
        job.partial.connect(self.volume_arrived.emit)
        job.finished.connect(self._retrieved)
        self.show_status("Retrieving… (series appear as they arrive)")
        return job.start()

    def _retrieved(self, result: RetrieveResult) -> None:
        self._busy(False)
        n = sum(s.received for s in result.series)
        self.show_status(f"Retrieved {len(result.series)} series ({n} instances) into {result.directory}")
        self.retrieve_finished.emit(result)

    def _send_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Send DICOM files to the PACS")
        if paths:
            self.send(paths)

    def send(self, paths: list[str | Path]) -> Job | None:
        def work(ctx: JobContext) -> int:
            files = dicom_files([str(p) for p in paths])
            if not files:
                raise PacsError("no DICOM files among the chosen paths")
            backend = self._backend()
            try:
                return backend.store(files, progress=ctx.progress)
            finally:
                backend.close()

        job = self._run("send", work)
        job.finished.connect(self._sent)
        self.show_status("Sending…")
        return job.start()

    def _sent(self, n: int) -> None:
        self._busy(False)
        self.show_status(f"Sent {n} instance(s) to {self.server_box.currentText()}")
        self.sent.emit(n)


def install_pacs_dock(window: Any) -> QDockWidget:
    """Create (once) the PACS dock on ``window`` and wire it to the window's display."""
    dock = getattr(window, "pacs_dock", None)
    if dock is not None:
        return dock
    panel = PacsPanel(parent=window)
    dock = QDockWidget("PACS", window)
    dock.setObjectName("pacs")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    window.pacs_dock = dock
    window.pacs_panel = panel

    def arrived(volume: Any) -> None:
        window.show_volume(volume, loading=not volume.meta.complete)

    def progressed(_done: int, _total: int) -> None:
        if window.volume is not None and not window.volume.meta.complete:
            window.refresh_slices()

    def finished(result: RetrieveResult) -> None:
        if result.series:
            window.open_paths([result.directory])  # lists the series in the study browser

    panel.volume_arrived.connect(arrived)
    panel.volume_progress.connect(progressed)
    panel.retrieve_finished.connect(finished)
    panel.failed.connect(lambda text: window.show_message(f"PACS: {text}"))
    return dock


__all__ = ["PacsPanel", "default_cache_root", "install_pacs_dock"]
