"""Wire :class:`~medlens.app.settings.AppSettings` into a main window: what is saved, when, restored.

* layout (quad / one pane) — restored at start, saved when chosen in the Layout menu;
* dock/toolbar arrangement and window size — restored at start, saved when the window closes;
* the user's own window/level presets — a "My presets" part of the Window/level menu: save the
  current window/level under a name, apply or delete one;
* extra plugin folders — added to ``MEDLENS_PLUGIN_PATH`` before any plugin discovery runs.

Kept out of ``main_window.py`` so the window stays usable (and testable) with no saved state;
``viewer_entry.run_viewer`` installs it on the real window.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QObject
from PySide6.QtWidgets import QInputDialog, QMenu

from medlens.app.settings import AppSettings

log = logging.getLogger(__name__)


def settings_for(window: Any) -> AppSettings:
    """The settings file beside the window's recent-studies file (a test's tmp folder in tests)."""
    return AppSettings(window.recent.path.with_name("settings.json"))


class _CloseSaver(QObject):
    def __init__(self, window: Any, settings: AppSettings) -> None:
        super().__init__(window)
        self.window = window
        self.settings = settings

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:
        if obj is self.window and ev.type() == QEvent.Type.Close:
            save_window_state(self.window, self.settings)
        return False


def save_window_state(window: Any, settings: AppSettings) -> None:
    state = bytes(window.saveState().toBase64()).decode("ascii")
    geometry = bytes(window.saveGeometry().toBase64()).decode("ascii")
    settings.window_state = f"{geometry}|{state}"


def restore_window_state(window: Any, settings: AppSettings) -> bool:
    text = settings.window_state
    if "|" not in text:
        return False
    geometry, state = text.split("|", 1)
    try:
        ok_geometry = window.restoreGeometry(QByteArray.fromBase64(geometry.encode("ascii")))
        ok_state = window.restoreState(QByteArray.fromBase64(state.encode("ascii")))
    except Exception as exc:  # a corrupt value costs the saved arrangement only
        log.debug("could not restore the window state: %s", exc)
        return False
    return bool(ok_geometry and ok_state)


def install_persistence(window: Any, settings: AppSettings | None = None) -> AppSettings:
    """Restore what was saved and start saving changes; returns the settings used."""
    settings = settings or settings_for(window)
    window.app_settings = settings
    settings.apply_plugin_folders()

    layout = settings.layout
    window.set_layout(None if layout == "quad" else layout)
    window.layout_group.triggered.connect(
        lambda _a: setattr(settings, "layout", window.layout_state.single or "quad")
    )

    restore_window_state(window, settings)
    window._close_saver = _CloseSaver(window, settings)
    window.installEventFilter(window._close_saver)

    menu = _window_menu(window)
    if menu is not None:
        window.user_presets_menu = menu.addMenu("My &presets")
        window.user_presets_menu.aboutToShow.connect(lambda: fill_user_presets_menu(window, settings))
        fill_user_presets_menu(window, settings)
    return settings


def _window_menu(window: Any) -> QMenu | None:
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == "Window/level":
            return action.menu()
    return None


def fill_user_presets_menu(window: Any, settings: AppSettings) -> None:
    menu: QMenu = window.user_presets_menu
    menu.clear()
    save = menu.addAction("Save current window/level as…")
    save.triggered.connect(lambda: ask_and_save_preset(window, settings))
    save.setEnabled(window.window is not None)
    presets = settings.window_presets()
    if presets:
        menu.addSeparator()
    for name, (centre, width) in sorted(presets.items()):
        a = menu.addAction(f"{name}  (C {centre:g} / W {width:g})")
        a.triggered.connect(lambda _=False, c=centre, w=width: apply_user_preset(window, c, w))
    if presets:
        remove = menu.addMenu("Delete")
        for name in sorted(presets):
            remove.addAction(name).triggered.connect(
                lambda _=False, n=name: settings.remove_window_preset(n)
            )


def apply_user_preset(window: Any, centre: float, width: float) -> None:
    if window.volume is None:
        window.show_message("Open a study first")
        return
    window.set_window(centre, width)


def save_current_preset(window: Any, settings: AppSettings, name: str) -> bool:
    """Save the window/level the slice panes show now under ``name`` (True when saved)."""
    current = window.window
    if current is None or not name.strip():
        return False
    settings.save_window_preset(name, *current)
    window.show_message(f"Saved window/level preset {name.strip()!r}")
    return True


def ask_and_save_preset(window: Any, settings: AppSettings) -> None:
    name, ok = QInputDialog.getText(window, "Save window/level preset", "Preset name:")
    if ok:
        save_current_preset(window, settings, name)
