"""The first-run welcome page: what a new user sees in the central area while nothing is loaded.

Open sample study / Open folder… / Open from PACS… (greyed, with the reason, when no PACS server is
configured or the sample is not there), the recent studies, and the built-in models with their
model cards one click away. It is a page of the central area, not a dialog, so nothing blocks: the
menus, the study browser and drag-and-drop all work while it shows. The first series that starts
showing switches the area back to the view panes; Help ▸ Welcome page brings the page back.

The model list comes from plugin discovery, which reads manifests only (no model is loaded).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QIcon, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)

NOT_CLINICAL = "Research and demonstration software — not for clinical use, not a medical device."


def icon_path() -> Path | None:
    """The application icon (PNG): the frozen bundle's copy, else the repository's ``resources/``."""
    from medlens.sample import bundle_data_dir

    candidates = []
    data = bundle_data_dir()
    if data is not None:
        candidates.append(data / "resources" / "medlens.png")
    candidates.append(Path(__file__).resolve().parents[2] / "resources" / "medlens.png")
    return next((p for p in candidates if p.is_file()), None)


def app_icon() -> QIcon:
    path = icon_path()
    return QIcon(str(path)) if path is not None else QIcon()


def pacs_status(directory: Path | None) -> tuple[bool, str]:
    """(usable, why not) for "Open from PACS…": usable when at least one server is configured."""
    from medlens.pacs.config import ServerRegistry
    from medlens.pacs.errors import PacsConfigError

    try:
        servers = ServerRegistry(directory).servers()
    except PacsConfigError as exc:
        return False, f"The PACS configuration cannot be read: {exc}"
    except Exception as exc:  # the welcome page must show whatever the PACS code thinks
        return False, f"PACS support is unavailable: {type(exc).__name__}: {exc}"
    if not servers:
        return False, (
            "No PACS server is configured. Add one with "
            "“medlens pacs servers add NAME --dicomweb-url URL” (or --ae-title/--host/--port)."
        )
    return True, "Configured: " + ", ".join(servers)


def sample_status() -> tuple[Path | None, str]:
    """(the sample study's DICOM folder or None, a line for the user)."""
    from medlens.sample import sample_study_if_ready

    try:
        study = sample_study_if_ready()
    except Exception as exc:
        return None, f"The sample study cannot be found: {exc}"
    if study is None:
        return None, "The sample study is not prepared yet: run “medlens sample” once (it downloads 30 MB)."
    return study.dicom_root, "Chest CT with a lung nodule and a T1 brain MR (pyradiomics sample data, BSD-3)."


def model_card_text(entry: Any) -> str:
    """Markdown for one discovered plugin: a header from its manifest, then its card (or the reason)."""
    m = entry.manifest
    if m is None:
        return f"# {entry.id}\n\n**This plugin cannot be used:** {entry.error}\n"
    head = (
        f"# {m.name}\n\n`{m.id}` version {m.version} — {m.task}, {m.runtime} runtime, "
        f"{entry.source}\n\n"
    )
    if entry.error:
        head += f"**This plugin cannot be used:** {entry.error}\n\n"
    try:
        return head + m.model_card_path.read_text(encoding="utf-8")
    except OSError as exc:
        return head + f"_No model card: {exc}_\n"


class ModelCardDialog(QDialog):
    """A plugin's model card as formatted Markdown; non-modal, several may be open."""

    def __init__(self, entry: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        name = entry.manifest.name if entry.manifest is not None else entry.id
        self.setWindowTitle(f"Model card — {name}")
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(720, 640)
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(True)
        if entry.manifest is not None:
            self.browser.setSearchPaths([str(entry.manifest.folder)])  # figures next to the card
        self.browser.setMarkdown(model_card_text(entry))
        close = QPushButton("Close", self)
        close.clicked.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addWidget(close, alignment=Qt.AlignmentFlag.AlignRight)


class WelcomePage(QWidget):
    """The page itself; ``window`` is the :class:`~medlens.app.main_window.MainWindow`."""

    sample_requested = Signal()

    def __init__(self, window: Any, parent: QWidget | None = None, plugin_entries: list[Any] | None = None):
        super().__init__(parent)
        self.window = window
        self.setObjectName("welcome")
        self._plugin_entries = plugin_entries
        self.card_dialogs: list[ModelCardDialog] = []

        outer = QVBoxLayout(self)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        body = QWidget(scroll)
        scroll.setWidget(body)
        col = QVBoxLayout(body)
        col.setContentsMargins(48, 32, 48, 32)
        col.setSpacing(14)

        head = QHBoxLayout()
        logo = QLabel(body)
        path = icon_path()
        if path is not None:
            logo.setPixmap(QPixmap(str(path)).scaled(
                72, 72, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            ))
        head.addWidget(logo)
        from medlens import __version__

        title = QLabel(f"<h1 style='margin:0'>Welcome to MedLens</h1><span>version {__version__}</span>",
                       body)
        head.addWidget(title, 1)
        col.addLayout(head)
        warning = QLabel(f"<b>{NOT_CLINICAL}</b>", body)
        warning.setWordWrap(True)
        col.addWidget(warning)

        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        self.sample_button = QPushButton("Open sample study", body)
        self.sample_button.clicked.connect(self.open_sample)
        self.sample_note = QLabel(body)
        self.folder_button = QPushButton("Open folder…", body)
        self.folder_button.clicked.connect(window._open_folder_dialog)
        folder_note = QLabel("A DICOM folder, .zip or DICOMDIR; files (.dcm, .nii, .nii.gz, .nrrd, .mha) "
                             "via File ▸ Open file(s)… or drag and drop.", body)
        self.pacs_button = QPushButton("Open from PACS…", body)
        self.pacs_button.clicked.connect(window.show_pacs_dock)
        self.pacs_note = QLabel(body)
        for row, (button, note) in enumerate([
            (self.sample_button, self.sample_note),
            (self.folder_button, folder_note),
            (self.pacs_button, self.pacs_note),
        ]):
            button.setMinimumWidth(200)
            note.setWordWrap(True)
            grid.addWidget(button, row, 0)
            grid.addWidget(note, row, 1)
        col.addLayout(grid)

        col.addWidget(QLabel("<h3 style='margin-bottom:0'>Recent studies</h3>", body))
        self.recent_list = QListWidget(body)
        self.recent_list.setMaximumHeight(130)
        self.recent_list.itemActivated.connect(self._open_recent)
        col.addWidget(self.recent_list)

        col.addWidget(QLabel("<h3 style='margin-bottom:0'>Built-in AI models</h3>", body))
        models_note = QLabel("They run on this computer; nothing is uploaded. Each has a model card: "
                             "what it was trained on, how well it does, and where it fails.", body)
        models_note.setWordWrap(True)
        col.addWidget(models_note)
        self.models_box = QVBoxLayout()
        col.addLayout(self.models_box)
        col.addStretch(1)
        self.refresh()

    # -- state ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the sample, PACS, recent studies and plugins (cheap: no model is loaded)."""
        self.sample_dir, note = sample_status()
        self.sample_button.setEnabled(self.sample_dir is not None)
        self.sample_button.setToolTip(note)
        self.sample_note.setText(note)

        ok, reason = pacs_status(self.window.recent.path.parent)
        self.pacs_button.setEnabled(ok)
        self.pacs_button.setToolTip(reason)
        self.pacs_note.setText(reason)
        self.pacs_reason = reason

        self.recent_list.clear()
        for path in self.window.recent.items():
            item = QListWidgetItem(path)
            item.setToolTip("Double-click (or Enter) to open")
            self.recent_list.addItem(item)
        if self.recent_list.count() == 0:
            placeholder = QListWidgetItem("(nothing opened yet)")
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent_list.addItem(placeholder)

        self._fill_models()

    def plugin_entries(self) -> list[Any]:
        if self._plugin_entries is not None:
            return self._plugin_entries
        try:
            from medlens.inference.discovery import discover

            return discover()
        except Exception as exc:  # never lose the page over plugin discovery
            log.warning("plugin discovery failed: %s", exc)
            return []

    def _fill_models(self) -> None:
        while self.models_box.count():
            item = self.models_box.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.card_buttons: dict[str, QPushButton] = {}
        entries = self.plugin_entries()
        if not entries:
            self.models_box.addWidget(QLabel("No AI plugins found.", self))
        for entry in entries:
            row = QWidget(self)
            lay = QHBoxLayout(row)
            lay.setContentsMargins(0, 0, 0, 0)
            name = entry.manifest.name if entry.manifest is not None else entry.id
            state = "ready" if entry.ok else f"unavailable: {entry.error}"
            label = QLabel(f"<b>{name}</b> — {entry.source}, {state}", row)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            button = QPushButton("Model card", row)
            button.clicked.connect(lambda _=False, e=entry: self.show_model_card(e))
            lay.addWidget(label, 1)
            lay.addWidget(button)
            self.card_buttons[entry.id] = button
            self.models_box.addWidget(row)

    # -- actions --------------------------------------------------------------------------------
    def open_sample(self) -> None:
        if self.sample_dir is None:
            self.window.show_message(self.sample_note.text())
            return
        self.sample_requested.emit()
        window = self.window

        def prefer_ct(summary: Any) -> None:
            # the sample holds a chest CT and a brain MR: start on the CT (the nodule demo)
            window.scan_finished.disconnect(prefer_ct)
            ct = next((s for s in summary.series if getattr(s, "modality", "") == "CT"), None)
            if ct is not None and summary.series and summary.series[0] is not ct:
                from PySide6.QtCore import QTimer

                QTimer.singleShot(0, lambda: window.load_series(ct))  # after the window's own pick

        window.scan_finished.connect(prefer_ct)
        window.open_paths([self.sample_dir])

    def _open_recent(self, item: QListWidgetItem) -> None:
        path = item.text()
        if Path(path).exists():
            self.window.open_paths([path])
        else:
            self.window.show_message(f"{path} is no longer there")

    def show_model_card(self, entry: Any) -> ModelCardDialog:
        dialog = ModelCardDialog(entry, self.window)
        dialog.show()
        self.card_dialogs = [d for d in self.card_dialogs if d.isVisible()] + [dialog]
        return dialog


def install_welcome(window: Any, plugin_entries: list[Any] | None = None) -> WelcomePage:
    """Put the welcome page in front of the view panes until something is shown.

    The panes' widget is moved into a stack behind the page (never re-created: VTK widgets keep
    their render windows); Help ▸ Welcome page switches back to the page at any time.
    """
    panes = window.takeCentralWidget()
    stack = QStackedWidget(window)
    page = WelcomePage(window, stack, plugin_entries=plugin_entries)
    stack.addWidget(page)
    stack.addWidget(panes)
    window.setCentralWidget(stack)
    window.welcome = page
    window.central_stack = stack
    window.views_widget = panes

    def show_views(*_args: Any) -> None:
        if stack.currentWidget() is not panes:
            stack.setCurrentWidget(panes)
            window.draw_all()

    def show_welcome() -> None:
        page.refresh()
        stack.setCurrentWidget(page)

    window.show_views = show_views
    window.show_welcome = show_welcome
    window.scan_finished.connect(lambda summary: show_views() if summary.series else None)
    window.volume_shown.connect(show_views)

    act = QAction("&Welcome page", window)
    act.triggered.connect(show_welcome)
    window.act_welcome = act
    for menu_action in window.menuBar().actions():
        if menu_action.menu() is not None and menu_action.text().replace("&", "") == "Help":
            menu = menu_action.menu()
            first = menu.actions()[0] if menu.actions() else None
            menu.insertAction(first, act)
            break
    stack.setCurrentWidget(page)
    return page
