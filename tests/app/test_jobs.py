"""The generic background job: results, progress, partial results, errors and cancellation."""

from __future__ import annotations

import threading
import time

from medlens.app.jobs import Job


def _run(qtbot, job: Job, timeout=5000):
    with qtbot.waitSignal(job.done, timeout=timeout):
        job.start()
    return job


def test_result_progress_and_partial_arrive_on_the_gui_thread(qtbot):
    main = threading.get_ident()
    seen = {"progress": [], "partial": [], "threads": set()}

    def work(ctx):
        assert threading.get_ident() != main  # really in the background
        ctx.partial("first")
        for i in range(5):
            ctx.progress(i + 1, 5)
        return 42

    job = Job(work, min_interval=0.0)
    job.progress.connect(
        lambda d, t: (seen["progress"].append(d), seen["threads"].add(threading.get_ident()))
    )
    job.partial.connect(lambda v: (seen["partial"].append(v), seen["threads"].add(threading.get_ident())))
    results = []
    job.finished.connect(results.append)
    _run(qtbot, job)
    assert results == [42] and job.state == "finished"
    assert seen["partial"] == ["first"] and seen["progress"][-1] == 5
    assert seen["threads"] == {main}


def test_progress_is_rate_limited_but_last_report_kept(qtbot):
    def work(ctx):
        for i in range(1000):
            ctx.progress(i + 1, 1000)

    job = Job(work, min_interval=10.0)
    got = []
    job.progress.connect(lambda d, t: got.append(d))
    _run(qtbot, job)
    assert got[-1] == 1000 and len(got) <= 2


class UserError(Exception):
    pass


def test_failure_gives_one_line_message(qtbot):
    def work(ctx):
        raise UserError("file is corrupt:\n  bad header")

    job = Job(work, expected_errors=(UserError,))
    failures = []
    job.failed.connect(lambda text, exc: failures.append((text, type(exc))))
    _run(qtbot, job)
    assert failures == [("file is corrupt: bad header", UserError)]
    assert job.state == "failed"


def test_cancel_stops_the_work(qtbot):
    started = threading.Event()

    def work(ctx):
        started.set()
        while True:
            ctx.raise_if_cancelled()
            time.sleep(0.01)

    job = Job(work)
    cancelled = []
    job.cancelled.connect(lambda: cancelled.append(True))
    job.finished.connect(lambda r: cancelled.append("finished?!"))
    job.start()
    assert started.wait(5)
    with qtbot.waitSignal(job.done, timeout=5000):
        job.cancel()
    assert cancelled == [True] and job.state == "cancelled"
    assert job.wait(1)


def test_custom_cancel_exception_counts_as_cancelled(qtbot):
    class LoadCancelled(Exception):  # noqa: N818 - mirrors the io name
        pass

    def work(ctx):
        raise LoadCancelled()

    job = Job(work, cancel_exceptions=(LoadCancelled,))
    _run(qtbot, job)
    assert job.state == "cancelled"
