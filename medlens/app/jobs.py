"""A generic cancellable background job with Qt signals (QThreadPool + QRunnable).

Usage::

    def work(ctx: JobContext) -> Result:
        for i, item in enumerate(items):
            ctx.raise_if_cancelled()
            ...
            ctx.progress(i + 1, len(items))
            ctx.partial(preview)            # optional intermediate result
        return result

    job = Job(work, name="segment")
    job.finished.connect(on_done)           # result
    job.failed.connect(on_error)            # one-line message, exception
    job.start()
    ...
    job.cancel()                            # cooperative: sets ctx.cancel_event

Every public signal is emitted from the GUI thread, whatever thread the work runs on: the worker
talks to an internal relay whose queued connections land on the ``Job`` (a QObject living in the
thread that created it). Slots connected to a ``Job`` may therefore touch widgets and VTK objects,
and plain functions and lambdas are safe receivers too. Progress is rate-limited so a loop that
reports every slice cannot flood the event loop.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, ClassVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)


class JobCancelled(Exception):  # noqa: N818 - named like the loader's LoadCancelled
    """Raised inside work functions (via ``raise_if_cancelled``) to stop early."""


class JobContext:
    """What the work function sees: cancellation, progress and intermediate results."""

    def __init__(self, relay: _Relay, cancel_event: threading.Event, min_interval: float) -> None:
        self._relay = relay
        self.cancel_event = cancel_event
        self._min_interval = min_interval
        self._last_progress = 0.0

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise JobCancelled()

    def progress(self, done: int, total: int) -> None:
        """Report progress; calls closer than ``min_interval`` are dropped except the last one."""
        now = time.monotonic()
        if done < total and now - self._last_progress < self._min_interval:
            return
        self._last_progress = now
        self._relay.progress.emit(int(done), int(total))

    def message(self, text: str) -> None:
        self._relay.message.emit(str(text))

    def partial(self, value: Any) -> None:
        """Hand an intermediate result (e.g. a first slice) to the GUI thread."""
        self._relay.partial.emit(value)


class _Relay(QObject):
    """Emitted from the worker thread; lives in the GUI thread, so its connections are queued."""

    progress = Signal(int, int)
    message = Signal(str)
    partial = Signal(object)
    done = Signal(str, object)  # outcome ("finished" | "failed" | "cancelled"), payload


class _Runnable(QRunnable):
    def __init__(self, job: Job) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._job = job

    def run(self) -> None:
        job = self._job
        relay = job._relay
        ctx = JobContext(relay, job.cancel_event, job.min_interval)
        try:
            self._run(job, relay, ctx)
        finally:
            job._returned.set()

    @staticmethod
    def _run(job: Job, relay: _Relay, ctx: JobContext) -> None:
        try:
            if job.cancel_event.is_set():
                raise JobCancelled()
            result = job._fn(ctx)
        except BaseException as exc:  # every outcome must reach the GUI thread
            if job.cancel_event.is_set() or isinstance(exc, (JobCancelled, *job.cancel_exceptions)):
                relay.done.emit("cancelled", None)
            else:
                if not job.is_expected_error(exc):
                    log.error("job %r failed:\n%s", job.name, "".join(traceback.format_exception(exc)))
                relay.done.emit("failed", exc)
        else:
            if job.cancel_event.is_set():
                relay.done.emit("cancelled", None)
            else:
                relay.done.emit("finished", result)


class Job(QObject):
    """One run of ``fn(ctx)`` on a thread pool.

    ``cancel_exceptions`` are exception types that mean "stopped on request" (e.g. the loader's
    ``LoadCancelled``); ``expected_errors`` are types whose message is meant for the user and whose
    traceback is not worth logging. ``message_for(exc)`` builds the one-line text of ``failed``.
    """

    started = Signal()
    progress = Signal(int, int)
    message = Signal(str)
    partial = Signal(object)
    finished = Signal(object)  # the result
    failed = Signal(str, object)  # one-line message, the exception
    cancelled = Signal()
    done = Signal()  # after any of finished / failed / cancelled

    _alive: ClassVar[set[Job]] = set()  # keeps running jobs referenced until they report back

    def __init__(
        self,
        fn: Callable[[JobContext], Any],
        name: str = "job",
        *,
        cancel_exceptions: tuple[type[BaseException], ...] = (),
        expected_errors: tuple[type[BaseException], ...] = (),
        message_for: Callable[[BaseException], str] | None = None,
        min_interval: float = 0.1,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._fn = fn
        self.name = name
        self.cancel_exceptions = cancel_exceptions
        self.expected_errors = expected_errors
        self._message_for = message_for
        self.min_interval = min_interval
        self.cancel_event = threading.Event()
        self.state = "new"  # new | running | finished | failed | cancelled
        self.result: Any = None
        self.error: BaseException | None = None
        self._returned = threading.Event()  # set by the worker thread when ``fn`` has returned
        self._returned.set()
        self._relay = _Relay()
        self._relay.moveToThread(self.thread())
        self._relay.progress.connect(self._on_progress)
        self._relay.message.connect(self._on_message)
        self._relay.partial.connect(self._on_partial)
        self._relay.done.connect(self._on_done)

    # -- control ----------------------------------------------------------------------------
    def start(self, pool: QThreadPool | None = None) -> Job:
        if self.state == "running":
            raise RuntimeError(f"job {self.name!r} is already running")
        self.state = "running"
        self._returned.clear()
        Job._alive.add(self)
        self.started.emit()
        (pool or QThreadPool.globalInstance()).start(_Runnable(self))
        return self

    def cancel(self) -> None:
        """Ask the work to stop; ``cancelled`` follows once it has."""
        self.cancel_event.set()

    @property
    def is_running(self) -> bool:
        return self.state == "running"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work function has returned; its signals may still be queued.

        Safe to call from the GUI thread (e.g. on close), unlike waiting for ``done``.
        """
        return self._returned.wait(timeout)

    def is_expected_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self.expected_errors)

    # -- relay slots (GUI thread) -------------------------------------------------------------
    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if self.state == "running" and not self.cancel_event.is_set():
            self.progress.emit(done, total)

    @Slot(str)
    def _on_message(self, text: str) -> None:
        if self.state == "running":
            self.message.emit(text)

    @Slot(object)
    def _on_partial(self, value: Any) -> None:
        if self.state == "running" and not self.cancel_event.is_set():
            self.partial.emit(value)

    @Slot(str, object)
    def _on_done(self, outcome: str, payload: Any) -> None:
        self.state = outcome
        Job._alive.discard(self)
        try:
            if outcome == "finished":
                self.result = payload
                self.finished.emit(payload)
            elif outcome == "failed":
                self.error = payload
                text = self._message_for(payload) if self._message_for else _default_message(payload)
                self.failed.emit(text, payload)
            else:
                self.cancelled.emit()
        finally:
            self.done.emit()


def _default_message(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
