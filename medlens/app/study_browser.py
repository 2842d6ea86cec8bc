"""The study browser: one row per series found by ``scan()``, with a thumbnail.

Thumbnails arrive later from a background job (``set_thumbnail``), so the list appears as soon
as the scan is done. Activating a row (double-click, Enter, or a click by the user) asks for that
series to be loaded; rows filled in by the program never trigger a load.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

THUMB = 72
_KEY_ROLE = Qt.ItemDataRole.UserRole


def series_title(info: Any) -> str:
    """Two lines for the list: "CT · 120 slices" and the description (Qt-free, tested alone)."""
    modality = getattr(info, "modality", "") or "?"
    n = int(getattr(info, "n_slices", 0) or 0)
    kind = getattr(info, "kind", "") or ""
    count = f"{n} slice" + ("" if n == 1 else "s")
    first = f"{modality} · {count}" + (f" · {kind}" if kind and kind not in ("volume", "3d") else "")
    number = getattr(info, "series_number", None)
    desc = getattr(info, "description", "") or "(no description)"
    if number is not None:
        desc = f"#{number} {desc}"
    return f"{first}\n{desc}"


def series_tooltip(info: Any) -> str:
    lines = [
        f"Patient: {getattr(info, 'patient_name', '') or '—'}",
        f"Study date: {getattr(info, 'study_date', '') or '—'}",
        f"Size: {' × '.join(str(v) for v in getattr(info, 'size_xyz', ()) or ())}",
        f"Files: {len(getattr(info, 'files', ()) or ())}",
        f"Series UID: {getattr(info, 'series_uid', '')}",
    ]
    lines += [f"⚠ {w}" for w in getattr(info, "warnings", ()) or ()]
    return "\n".join(lines)


def thumbnail_icon(pixels: np.ndarray) -> QIcon:
    """A QIcon from a uint8 (h, w) grey image (the copy detaches it from the numpy buffer)."""
    a = np.ascontiguousarray(pixels, dtype=np.uint8)
    h, w = a.shape[:2]
    image = QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QIcon(QPixmap.fromImage(image))


def _placeholder_icon() -> QIcon:
    pix = QPixmap(THUMB, THUMB)
    pix.fill(QColor(40, 40, 40))
    return QIcon(pix)


class StudyBrowser(QWidget):
    series_activated = Signal(object)  # SeriesInfo

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget(self)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setUniformItemSizes(True)
        self.list.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        self._infos: dict[str, Any] = {}
        self.thumbnails: set[str] = set()  # keys whose real thumbnail has arrived
        self._placeholder = _placeholder_icon()
        self.list.itemActivated.connect(self._activated)
        self.list.itemClicked.connect(self._activated)

    # -- content ------------------------------------------------------------------------------
    def set_series(self, series: list[Any]) -> None:
        self.list.clear()
        self._infos = {}
        self.thumbnails = set()
        for info in series:
            key = str(info.key)
            self._infos[key] = info
            item = QListWidgetItem(self._placeholder, series_title(info))
            item.setData(_KEY_ROLE, key)
            item.setToolTip(series_tooltip(info))
            self.list.addItem(item)

    def clear(self) -> None:
        self.set_series([])

    def series(self) -> list[Any]:
        return list(self._infos.values())

    def count(self) -> int:
        return self.list.count()

    def item_for(self, key: str) -> QListWidgetItem | None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(_KEY_ROLE) == str(key):
                return item
        return None

    def set_thumbnail(self, key: str, pixels: np.ndarray) -> None:
        item = self.item_for(key)
        if item is not None:
            item.setIcon(thumbnail_icon(pixels))
            self.thumbnails.add(str(key))

    def mark_current(self, key: str) -> None:
        """Show which series is loaded, without emitting ``series_activated``."""
        item = self.item_for(key)
        if item is not None:
            self.list.blockSignals(True)
            self.list.setCurrentItem(item)
            self.list.blockSignals(False)
        for row in range(self.list.count()):
            it = self.list.item(row)
            font = it.font()
            font.setBold(it is item)
            it.setFont(font)

    def _activated(self, item: QListWidgetItem) -> None:
        info = self._infos.get(item.data(_KEY_ROLE))
        if info is not None:
            self.series_activated.emit(info)
