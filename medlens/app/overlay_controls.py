"""Overlay controls: per-label visibility with colour swatches, opacity, outline, heatmap threshold.

The widget knows nothing of panes: it calls ``targets()`` for the current list of
:class:`~medlens.viewer.render.SliceView` objects (the three slice panes, plus the comparison pane
when open), applies the change to each, then ``redraw()``. So new panes pick up the state the next
time anything changes, and the same controls serve the AI result and, later, an edited segmentation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from medlens.viewer.model import Heatmap, LabelMap
from medlens.viewer.render.colormaps import colormap_rgb, label_color

SLIDER_STEPS = 100


def _swatch(rgb: tuple[int, int, int], size: int = 12) -> QPixmap:
    pm = QPixmap(size, size)
    pm.fill(QColor(*rgb))
    return pm


def colorbar_pixmap(cmap: str, width: int = 120, height: int = 10) -> QPixmap:
    """A horizontal colour-bar image of ``cmap`` (for the heatmap legend in the panel)."""
    from PySide6.QtGui import QImage

    rgb = (colormap_rgb(cmap, width) * 255).astype("uint8")
    img = QImage(width, height, QImage.Format.Format_RGB32)
    for x in range(width):
        color = QColor(*(int(c) for c in rgb[x])).rgb()
        for y in range(height):
            img.setPixel(x, y, color)
    return QPixmap.fromImage(img)


class OverlayControls(QWidget):
    """Controls for one label map and one heatmap shown on every slice pane."""

    def __init__(
        self,
        targets: Callable[[], list[Any]],
        redraw: Callable[[], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.targets = targets
        self.redraw = redraw
        self.label_map: LabelMap | None = None
        self.heatmap: Heatmap | None = None
        self.heatmap_range = (0.0, 1.0)
        self.label_checks: dict[int, QCheckBox] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.labels_box = QWidget(self)
        self.labels_layout = QVBoxLayout(self.labels_box)
        self.labels_layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.labels_box)
        form = QFormLayout()
        self.opacity = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity.setRange(0, SLIDER_STEPS)
        self.opacity.setValue(50)
        self.opacity.valueChanged.connect(self._opacity_changed)
        form.addRow("Label opacity", self.opacity)
        self.outline = QCheckBox("Outline only", self)
        self.outline.toggled.connect(self._style_changed)
        form.addRow("", self.outline)
        self.heat_visible = QCheckBox("Show heatmap", self)
        self.heat_visible.setChecked(True)
        self.heat_visible.toggled.connect(self._heat_visible_changed)
        form.addRow("", self.heat_visible)
        self.heat_opacity = QSlider(Qt.Orientation.Horizontal, self)
        self.heat_opacity.setRange(0, SLIDER_STEPS)
        self.heat_opacity.setValue(50)
        self.heat_opacity.valueChanged.connect(self._heat_opacity_changed)
        form.addRow("Heatmap opacity", self.heat_opacity)
        self.threshold = QSlider(Qt.Orientation.Horizontal, self)
        self.threshold.setRange(0, SLIDER_STEPS)
        self.threshold.valueChanged.connect(self._threshold_changed)
        self.threshold_label = QLabel("", self)
        row = QHBoxLayout()
        row.addWidget(self.threshold)
        row.addWidget(self.threshold_label)
        form.addRow("Threshold", row)
        self.colorbar = QLabel(self)
        self.colorbar_text = QLabel("", self)
        bar = QHBoxLayout()
        bar.addWidget(self.colorbar)
        bar.addWidget(self.colorbar_text)
        form.addRow("Heatmap", bar)
        layout.addLayout(form)
        self._heat_widgets = [self.heat_visible, self.heat_opacity, self.threshold, self.colorbar]
        self._label_widgets = [self.opacity, self.outline]
        self._sync_enabled()

    # -- state from the panel ---------------------------------------------------------------
    def set_label_map(self, lm: LabelMap | None) -> None:
        """Rebuild the label rows for ``lm`` (the panes are updated by the caller)."""
        self.label_map = lm
        for cb in self.label_checks.values():
            cb.setParent(None)
            cb.deleteLater()
        self.label_checks = {}
        if lm is not None:
            for lab in sorted(lm.labels, key=lambda lab: lab.value):
                cb = QCheckBox(f"{lab.name} ({lab.value})", self.labels_box)
                cb.setIcon(_swatch(label_color(lab, lab.value)))
                cb.setChecked(True)
                cb.toggled.connect(lambda on, v=lab.value: self._label_toggled(v, on))
                self.labels_layout.addWidget(cb)
                self.label_checks[lab.value] = cb
        self._sync_enabled()

    def set_heatmap(
        self, hm: Heatmap | None, value_range: tuple[float, float], threshold: float | None, cmap: str
    ) -> None:
        self.heatmap = hm
        self.heatmap_range = value_range
        self.threshold.blockSignals(True)
        self.threshold.setValue(self._to_slider(threshold if threshold is not None else value_range[0]))
        self.threshold.blockSignals(False)
        self._show_threshold()
        self.colorbar.setPixmap(colorbar_pixmap(cmap))
        lo, hi = value_range
        self.colorbar_text.setText(f"{lo:.2g} … {hi:.2g}")
        self._sync_enabled()

    @property
    def label_opacity(self) -> float:
        return self.opacity.value() / SLIDER_STEPS

    @property
    def outline_only(self) -> bool:
        return self.outline.isChecked()

    @property
    def heatmap_opacity(self) -> float:
        return self.heat_opacity.value() / SLIDER_STEPS

    @property
    def heatmap_threshold(self) -> float:
        lo, hi = self.heatmap_range
        return lo + (hi - lo) * self.threshold.value() / SLIDER_STEPS

    # -- slots ------------------------------------------------------------------------------
    def _apply(self, fn: Callable[[Any], None]) -> None:
        for view in self.targets():
            fn(view)
        self.redraw()

    def _label_toggled(self, value: int, on: bool) -> None:
        self._apply(lambda v: v.set_label_visible(value, on))

    def _opacity_changed(self, _value: int) -> None:
        self._apply(lambda v: v.set_label_opacity(self.label_opacity))

    def _style_changed(self, outline_only: bool) -> None:
        self._apply(lambda v: v.set_label_style(outline=outline_only, fill=not outline_only))

    def _heat_visible_changed(self, on: bool) -> None:
        self._apply(lambda v: v.set_heatmap_visible(on))

    def _heat_opacity_changed(self, _value: int) -> None:
        self._apply(lambda v: v.set_heatmap_opacity(self.heatmap_opacity))

    def _threshold_changed(self, _value: int) -> None:
        self._show_threshold()
        t = self.heatmap_threshold
        self._apply(lambda v: v.set_heatmap_threshold(t))

    # -- helpers ----------------------------------------------------------------------------
    def _to_slider(self, value: float) -> int:
        lo, hi = self.heatmap_range
        return round((value - lo) / max(hi - lo, 1e-12) * SLIDER_STEPS)

    def _show_threshold(self) -> None:
        self.threshold_label.setText(f"{self.heatmap_threshold:.2g}")

    def _sync_enabled(self) -> None:
        for w in self._label_widgets:
            w.setEnabled(self.label_map is not None)
        for w in self._heat_widgets:
            w.setEnabled(self.heatmap is not None)
