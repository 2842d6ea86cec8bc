"""Qt-free background jobs: a worker thread, a cancel event and (done, total) progress.

The inference functions themselves take ``progress: Callable[[int, int], None]`` and
``cancel: threading.Event`` and know nothing of threads; :class:`Job` runs one of them on a worker
thread for the command line and tests, and the app wraps the same pair with Qt signals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from medlens.inference.errors import InferenceCancelled

T = TypeVar("T")
ProgressFn = Callable[[int, int], None]
CancelToken = threading.Event


def check_cancelled(cancel: threading.Event | None) -> None:
    """Raise :class:`InferenceCancelled` when ``cancel`` is set; called between units of work."""
    if cancel is not None and cancel.is_set():
        raise InferenceCancelled()


def scaled_progress(progress: ProgressFn | None, part: int, parts: int) -> ProgressFn | None:
    """Map a sub-step's (done, total) into part ``part`` of ``parts`` equal parts of the whole."""
    if progress is None:
        return None

    def report(done: int, total: int) -> None:
        total = max(total, 1)
        progress(part * total + done, parts * total)

    return report


class Job(Generic[T]):
    """Runs ``work(progress, cancel)`` on a daemon thread; ``result()`` returns or re-raises."""

    def __init__(self, work: Callable[[ProgressFn, threading.Event], T], name: str = "job") -> None:
        self.name = name
        self.cancel_event = threading.Event()
        self.progress: tuple[int, int] = (0, 0)
        self.listeners: list[ProgressFn] = []
        self._work = work
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"medlens-{name}", daemon=True)

    @property
    def state(self) -> str:
        if not self._thread.is_alive() and self._thread.ident is None:
            return "pending"
        if self._thread.is_alive():
            return "running"
        if isinstance(self._error, InferenceCancelled):
            return "cancelled"
        return "failed" if self._error is not None else "finished"

    def _report(self, done: int, total: int) -> None:
        self.progress = (done, total)
        for listener in list(self.listeners):
            listener(done, total)

    def _run(self) -> None:
        try:
            self._result = self._work(self._report, self.cancel_event)
        except BaseException as exc:  # handed to result(); a worker thread must not die silently
            self._error = exc

    def start(self) -> Job[T]:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancel_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self, timeout: float | None = None) -> T:
        if not self.wait(timeout):
            raise TimeoutError(f"{self.name} still running")
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]
