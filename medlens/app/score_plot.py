"""A per-slice score plot drawn with QPainter; clicking a point jumps to that slice.

Why not QtCharts: it is not part of PySide6-Essentials (checked: ``PySide6.QtCharts`` is absent in
this environment), and a line, a threshold and a cursor are a few dozen lines of QPainter -- cheap
to draw, no extra dependency in the installer, and deterministic to test (``x_of_slice`` tells a
test where to click).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

MARGIN_LEFT = 30
MARGIN_RIGHT = 8
MARGIN_TOP = 8
MARGIN_BOTTOM = 18


class ScorePlot(QWidget):
    """Scores in [0, 1] against slice index; emits ``slice_clicked(index)`` on a click."""

    slice_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scores: np.ndarray | None = None
        self.threshold: float | None = None
        self.current: int | None = None
        self.title = ""
        self.padded = 0  # slices at each end a 2.5D model saw with padded neighbours (drawn dashed, grey)
        self.setMinimumHeight(110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Score per slice — click to go to that slice")

    # -- data -------------------------------------------------------------------------------
    def set_scores(
        self, scores: np.ndarray | None, threshold: float | None = None, title: str = "", padded: int = 0
    ) -> None:
        """Show ``scores``; the first and last ``padded`` slices are drawn dashed and grey because a
        2.5D model judged them with padded neighbours and they do not count in the study score.

        ``padded`` is the engine's ``InferenceResult.padded_end_slices``, already 0 for a series too
        short to have an interior; a count that would leave no slice is a caller's error (ValueError),
        as in the DICOM SR writer."""
        self.scores = None if scores is None else np.asarray(scores, dtype=float)
        if self.scores is not None and padded and not 0 < 2 * padded < len(self.scores):
            raise ValueError(f"{padded} padded slice(s) at each end leave none of {len(self.scores)} to plot")
        self.threshold = threshold
        self.title = title
        self.padded = 0 if self.scores is None else padded
        tip = "Score per slice — click to go to that slice"
        if self.padded:
            tip += (
                f"\nGrey, dashed: the first and last {self.padded} slice(s), which the model saw with padded "
                "neighbours; they are scored but not counted in the study score"
            )
        if self.scores is not None and threshold is not None:
            flagged = self.flagged()
            listed = ", ".join(str(i + 1) for i in flagged[:12]) + (", …" if len(flagged) > 12 else "")
            tip += (
                f"\nAmber, dashed: the plugin's operating threshold {threshold:.2f} (its model card says how "
                f"it was set); slices at or above it: {listed or 'none'}"
            )
        self.setToolTip(tip)
        self.update()

    def flagged(self) -> list[int]:
        """Slices (0-based) scored at or above the threshold, the padded end slices left out as in the
        study score; empty without scores or threshold."""
        if self.scores is None or self.threshold is None:
            return []
        n, c = len(self.scores), self.padded
        return [i for i in range(c, n - c) if self.scores[i] >= self.threshold]

    def next_flagged(self, current: int | None, step: int) -> int | None:
        """The nearest flagged slice after (``step`` = 1) or before (-1) slice ``current`` (from either
        end when ``current`` is None), or None when there is none that way: a reader steps through
        the flagged slices without wrapping round unnoticed."""
        flagged = self.flagged()
        if not flagged:
            return None
        if current is None:
            return flagged[0] if step > 0 else flagged[-1]
        ahead = [i for i in flagged if (i - current) * step > 0]
        return (ahead[0] if step > 0 else ahead[-1]) if ahead else None

    def caption(self) -> str:
        """The line under the plot: the title and, with a threshold, how many slices reach it."""
        if self.threshold is None or self.scores is None:
            return self.title
        return f"{self.title} · {len(self.flagged())} ≥ {self.threshold:.2f}"

    def set_current(self, index: int | None) -> None:
        """Mark the slice shown in the panes (a vertical line)."""
        self.current = index
        self.update()

    # -- geometry ---------------------------------------------------------------------------
    def _plot_rect(self) -> QRectF:
        return QRectF(
            MARGIN_LEFT,
            MARGIN_TOP,
            max(self.width() - MARGIN_LEFT - MARGIN_RIGHT, 1),
            max(self.height() - MARGIN_TOP - MARGIN_BOTTOM, 1),
        )

    def x_of_slice(self, index: int) -> float:
        """Widget x of slice ``index`` (the inverse of :meth:`slice_at`)."""
        r = self._plot_rect()
        n = len(self.scores) if self.scores is not None else 1
        return r.left() + (index / max(n - 1, 1)) * r.width()

    def y_of_score(self, score: float) -> float:
        r = self._plot_rect()
        return r.bottom() - float(np.clip(score, 0.0, 1.0)) * r.height()

    def slice_at(self, x: float) -> int | None:
        """The slice nearest to widget x, or None without scores."""
        if self.scores is None or len(self.scores) == 0:
            return None
        r = self._plot_rect()
        n = len(self.scores)
        t = (x - r.left()) / max(r.width(), 1.0)
        return int(np.clip(round(t * (n - 1)), 0, n - 1))

    # -- Qt ---------------------------------------------------------------------------------
    def mousePressEvent(self, ev: QMouseEvent) -> None:
        index = self.slice_at(ev.position().x())
        if index is not None and ev.button() == Qt.MouseButton.LeftButton:
            self.set_current(index)
            self.slice_clicked.emit(index)
        ev.accept()

    def paintEvent(self, ev: QPaintEvent) -> None:
        p = QPainter(self)
        try:
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.fillRect(self.rect(), QColor(30, 30, 34))
            r = self._plot_rect()
            p.setPen(QPen(QColor(90, 90, 100), 1))
            p.drawRect(r)
            p.setPen(QColor(170, 170, 180))
            p.drawText(QPointF(2, r.top() + 8), "1")
            p.drawText(QPointF(2, r.bottom()), "0")
            if self.scores is None or len(self.scores) == 0:
                p.drawText(r, Qt.AlignmentFlag.AlignCenter, "no per-slice scores")
                return
            n = len(self.scores)
            p.drawText(QPointF(r.left(), self.height() - 4), "slice 1")
            p.drawText(QPointF(r.right() - 40, self.height() - 4), f"{n}")
            if caption := self.caption():
                p.drawText(QPointF(r.left() + 60, self.height() - 4), caption[:48])
            if self.threshold is not None:
                y = self.y_of_score(self.threshold)
                p.setPen(QPen(QColor(200, 160, 60), 1, Qt.PenStyle.DashLine))
                p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
                if r.top() + 14 < y < r.bottom() - 10:  # clear of the axis' "1" and "0"
                    p.setPen(QColor(200, 160, 60))
                    p.drawText(QPointF(2, y + 4), f"{self.threshold:.2f}".lstrip("0"))
            c = self.padded
            judged = (c, n - 1 - c)  # the stretch that counts, solid; the padded ends, dashed grey
            for lo, hi, pen in (
                (judged[0], judged[1], QPen(QColor(90, 200, 255), 1.5)),
                (0, c, QPen(QColor(140, 140, 150), 1.5, Qt.PenStyle.DashLine)),
                (n - 1 - c, n - 1, QPen(QColor(140, 140, 150), 1.5, Qt.PenStyle.DashLine)),
            ):
                if hi <= lo:
                    continue
                path = QPainterPath()
                path.moveTo(QPointF(self.x_of_slice(lo), self.y_of_score(self.scores[lo])))
                for i in range(lo + 1, hi + 1):
                    path.lineTo(QPointF(self.x_of_slice(i), self.y_of_score(self.scores[i])))
                p.setPen(pen)
                p.drawPath(path)
            if self.current is not None and 0 <= self.current < n:
                x = self.x_of_slice(self.current)
                p.setPen(QPen(QColor(80, 220, 100), 1))
                p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
        finally:
            p.end()
