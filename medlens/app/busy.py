"""How the AI dock's panels show a background job: a busy bar with Cancel, one status line, and
errors as one line.

Why one place: the plugin panel and its Explain section run their jobs the same way, and a
message cut differently or a bar left visible in one of them is what a user would notice.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton

STATUS_CHARS = 90  # longer messages are cut in the panel; the tooltip keeps them whole


def error_line(exc: BaseException) -> str:
    """The message of any exception as one line (InferenceError messages already are)."""
    from medlens.inference.errors import InferenceError

    if isinstance(exc, MemoryError):
        return "not enough memory to run this plugin; close other studies or applications and retry"
    text = " ".join(str(exc).split())
    if isinstance(exc, InferenceError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def show_busy(progress: QProgressBar, cancel: QPushButton, running: bool, text: str = "") -> None:
    """Show (indeterminate until the job reports) or hide the bar and its Cancel button."""
    progress.setVisible(running)
    cancel.setVisible(running)
    cancel.setEnabled(running)
    if running:
        progress.setRange(0, 0)
        progress.setFormat(text[:40] + " %p%" if text else "%p%")


def show_status(label: QLabel, text: str) -> None:
    """``text`` on one status line, cut to :data:`STATUS_CHARS` with the whole of it as tooltip."""
    label.setText(text if len(text) <= STATUS_CHARS else text[: STATUS_CHARS - 3] + "…")
    label.setToolTip(text)
