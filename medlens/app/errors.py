"""Turning exceptions into one line a user can act on, and a last-resort excepthook.

Errors a user can cause (a corrupt file, an unsupported object) arrive as ``LoadError`` with a
ready-made message. Anything else is a bug: its traceback goes to stderr for the report, the user
gets one line in the status bar and the viewer keeps running.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger("medlens")


def one_line(exc: BaseException) -> str:
    """The exception's message on one line, without the traceback."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def is_user_error(exc: BaseException) -> bool:
    """True for errors whose message is meant for the user (``LoadError`` and friends)."""
    try:
        from medlens.viewer.io import LoadError
    except ImportError:
        LoadError = None
    if LoadError is not None and isinstance(exc, LoadError):
        return True
    return isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError))


def user_message(exc: BaseException) -> str:
    if is_user_error(exc):
        return one_line(exc)
    return f"Unexpected error ({type(exc).__name__}): {one_line(exc)} — details on the console"


def install_excepthook(show: Callable[[str], None]) -> Callable[[], None]:
    """Log uncaught exceptions to stderr and show one line via ``show``; returns an undo function.

    PySide6 hands exceptions raised in slots and event handlers to ``sys.excepthook``, so this is
    what keeps a bug in a handler from becoming a crash or a traceback dialog.
    """
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        sys.stderr.write("".join(traceback.format_exception(exc_type, exc, tb)))
        with contextlib.suppress(Exception):  # the hook itself must never raise
            show(user_message(exc))

    sys.excepthook = hook

    def undo() -> None:
        sys.excepthook = previous

    return undo
