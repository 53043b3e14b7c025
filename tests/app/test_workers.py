"""The worker pattern: results on the GUI thread, coalesced progress, cancel, pause, errors."""

from __future__ import annotations

import threading
import time

import pytest
import shiboken6
from PySide6.QtCore import QObject, Signal
from pytestqt.qtbot import QtBot

from dclip_app.workers import TaskControl, WorkerPool
from dclip_core.errors import LibraryError

pytestmark = pytest.mark.gui


@pytest.fixture
def pool(qtbot: QtBot) -> WorkerPool:
    pool = WorkerPool(max_threads=2)
    yield pool
    pool.cancel_all()
    assert pool.wait_for_done(5000)


def test_result_and_progress_arrive_on_the_gui_thread(qtbot: QtBot, pool: WorkerPool) -> None:
    seen: dict[str, object] = {}
    progress_threads: set[int] = set()

    def task(control: TaskControl) -> int:
        seen["task_thread"] = threading.get_ident()
        for i in range(5):
            control.report(i, force=True)
        return 42

    def on_result(value: int) -> None:
        seen["result"] = value
        seen["result_thread"] = threading.get_ident()

    worker = pool.start(
        task,
        "answer",
        on_result=on_result,
        on_progress=lambda _v: progress_threads.add(threading.get_ident()),
    )
    qtbot.waitUntil(worker.finished_on_gui.is_set, timeout=5000)
    gui = threading.get_ident()
    assert seen["result"] == 42
    assert seen["task_thread"] != gui
    assert seen["result_thread"] == gui
    assert progress_threads == {gui}
    assert pool.live_workers() == []


def test_progress_is_coalesced(qtbot: QtBot, pool: WorkerPool) -> None:
    received: list[int] = []

    def task(control: TaskControl) -> None:
        for i in range(20_000):
            control.report(i)
        control.report(-1, force=True)

    worker = pool.start(task, "chatty", on_progress=received.append, progress_interval_s=0.05)
    qtbot.waitUntil(worker.finished_on_gui.is_set, timeout=5000)
    # Thousands of reports become a handful of GUI updates, and the last one is never lost.
    assert 1 <= len(received) < 200
    assert received[-1] == -1


def test_cancel_stops_at_a_checkpoint(qtbot: QtBot, pool: WorkerPool) -> None:
    steps: list[int] = []
    outcome: list[str] = []

    def task(control: TaskControl) -> str:
        for i in range(1000):
            control.checkpoint()
            steps.append(i)
            time.sleep(0.005)
        return "finished"

    worker = pool.start(
        task,
        "long",
        on_result=lambda _v: outcome.append("result"),
        on_cancelled=lambda: outcome.append("cancelled"),
    )
    qtbot.waitUntil(lambda: len(steps) > 3, timeout=5000)
    worker.cancel()
    qtbot.waitUntil(worker.finished_on_gui.is_set, timeout=5000)
    assert outcome == ["cancelled"]
    assert len(steps) < 1000


def test_pause_holds_the_task_until_resumed(qtbot: QtBot, pool: WorkerPool) -> None:
    steps: list[int] = []

    def task(control: TaskControl) -> int:
        for i in range(40):
            control.checkpoint()
            steps.append(i)
            time.sleep(0.005)
        return len(steps)

    results: list[int] = []
    worker = pool.start(task, "pausable", on_result=results.append)
    qtbot.waitUntil(lambda: len(steps) > 2, timeout=5000)
    worker.control.pause()
    time.sleep(0.1)
    held = len(steps)
    time.sleep(0.2)
    assert len(steps) <= held + 1  # at most the step in flight finishes
    worker.control.resume()
    qtbot.waitUntil(worker.finished_on_gui.is_set, timeout=5000)
    assert results == [40]


def test_errors_reach_the_error_callback(qtbot: QtBot, pool: WorkerPool) -> None:
    errors: list[BaseException] = []

    def task(control: TaskControl) -> None:
        raise LibraryError("library in use by PID 123")

    worker = pool.start(task, "failing", on_error=errors.append)
    qtbot.waitUntil(worker.finished_on_gui.is_set, timeout=5000)
    assert len(errors) == 1
    assert isinstance(errors[0], LibraryError)
    assert "PID 123" in str(errors[0])


def test_a_result_for_a_deleted_receiver_is_dropped(qtbot: QtBot, pool: WorkerPool) -> None:
    # A window closed while its job ran: the job's result has nowhere to go, and must not raise
    # "Signal source has been deleted" in the event loop.
    class Receiver(QObject):
        got = Signal(object)

        def take(self, value: object) -> None:
            self.got.emit(value)

    receiver = Receiver()
    release = threading.Event()
    worker = pool.start(lambda control: release.wait(5) and 42, "slow", on_result=receiver.take)
    shiboken6.delete(receiver)
    release.set()
    qtbot.waitUntil(worker.finished_on_gui.is_set, timeout=5000)  # no exception reached Qt
