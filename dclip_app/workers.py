"""The app's one way to run background work.

A task is a plain function ``task(control) -> result`` that runs on a pool thread. It reports
progress with ``control.report(value)`` and calls ``control.checkpoint()`` (or reads
``control.cancelled``) between steps, which is where pause and cancel take effect: nothing is
interrupted in the middle of a write. Progress, the result, the error or the cancellation reach the
callbacks **on the GUI thread**, because they travel as queued signals to a relay object that lives
there.

Progress is coalesced: a task may report thousands of times a second, the GUI sees at most one
update per ``progress_interval_s`` (the latest value), so indexing cannot flood the event loop.

:class:`WorkerPool` starts workers, tracks the live ones and stops them all when the window closes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

Task = Callable[["TaskControl"], Any]


class TaskCancelled(Exception):  # noqa: N818 - it is a control-flow signal, not an error
    """Raised by :meth:`TaskControl.checkpoint` when the user cancelled the task."""


class TaskControl:
    """What a running task sees: progress reporting, cancel and pause.

    Thread-safe: the GUI thread calls :meth:`cancel`, :meth:`pause` and :meth:`resume` while the
    task thread calls :meth:`report` and :meth:`checkpoint`.
    """

    def __init__(
        self, emit_progress: Callable[[object], None], progress_interval_s: float = 0.05
    ) -> None:
        self._emit_progress = emit_progress
        self._interval = progress_interval_s
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._last_emit = 0.0

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def cancel_event(self) -> threading.Event:
        """The underlying event, for core APIs that take a ``threading.Event`` as cancel token."""
        return self._cancel

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()  # a paused task must wake up to see the cancel

    def pause(self) -> None:
        if not self._cancel.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def report(self, value: object, *, force: bool = False) -> None:
        """Send ``value`` to the progress callback, at most once per interval unless ``force``."""
        now = time.monotonic()
        if force or now - self._last_emit >= self._interval:
            self._last_emit = now
            self._emit_progress(value)

    def checkpoint(self) -> None:
        """Block while paused; raise :class:`TaskCancelled` once cancelled."""
        self._running.wait()
        if self._cancel.is_set():
            raise TaskCancelled


def _receiver_alive(callback: Callable[..., object]) -> bool:
    """False when ``callback`` is a method of a Qt object already deleted (its window closed
    while the job ran): the result has nowhere to go."""
    owner = getattr(callback, "__self__", None)
    return not isinstance(owner, QObject) or shiboken6.isValid(owner)


class _Relay(QObject):
    """Lives on the GUI thread; signals emitted from the pool thread are queued to its slots."""

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    was_cancelled = Signal()
    done = Signal()

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self._worker = worker
        self.progress.connect(self._on_progress)
        self.succeeded.connect(self._on_succeeded)
        self.failed.connect(self._on_failed)
        self.was_cancelled.connect(self._on_cancelled)
        self.done.connect(self._on_done)

    @Slot(object)
    def _on_progress(self, value: object) -> None:
        callback = self._worker.on_progress
        if callback is None or self._worker.control.cancelled:
            return
        if _receiver_alive(callback):
            callback(value)

    @Slot(object)
    def _on_succeeded(self, value: object) -> None:
        if self._worker.on_result is not None and _receiver_alive(self._worker.on_result):
            self._worker.on_result(value)

    @Slot(object)
    def _on_failed(self, error: object) -> None:
        if self._worker.on_error is not None and _receiver_alive(self._worker.on_error):
            self._worker.on_error(error)  # type: ignore[arg-type]

    @Slot()
    def _on_cancelled(self) -> None:
        if self._worker.on_cancelled is not None and _receiver_alive(self._worker.on_cancelled):
            self._worker.on_cancelled()

    @Slot()
    def _on_done(self) -> None:
        self._worker.finished_on_gui.set()
        if self._worker.on_finished is not None and _receiver_alive(self._worker.on_finished):
            self._worker.on_finished()


class Worker(QRunnable):
    """One task on a thread pool. Create through :meth:`WorkerPool.start`."""

    def __init__(self, task: Task, name: str, progress_interval_s: float = 0.05) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the pool keeps the Python object alive until finished
        self.name = name
        self.task = task
        self.on_progress: Callable[[object], None] | None = None
        self.on_result: Callable[[object], None] | None = None
        self.on_error: Callable[[BaseException], None] | None = None
        self.on_cancelled: Callable[[], None] | None = None
        self.on_finished: Callable[[], None] | None = None
        self.relay = _Relay(self)
        self.control = TaskControl(self.relay.progress.emit, progress_interval_s)
        self.finished_in_thread = threading.Event()
        self.finished_on_gui = threading.Event()

    def run(self) -> None:
        try:
            result = self.task(self.control)
        except TaskCancelled:
            self._emit(self.relay.was_cancelled)
        except Exception as exc:
            # Reported to the GUI (which shows it); logged with its traceback for bug reports.
            log.exception("background task %r failed", self.name)
            self._emit(self.relay.failed, exc)
        else:
            if self.control.cancelled:
                self._emit(self.relay.was_cancelled)
            else:
                self._emit(self.relay.succeeded, result)
        finally:
            self.finished_in_thread.set()
            self._emit(self.relay.done)

    def _emit(self, signal: Any, *args: object) -> None:
        try:
            signal.emit(*args)
        except RuntimeError as exc:
            # The relay was destroyed (the app is shutting down): there is no one left to tell.
            log.debug("result of %r dropped: %s", self.name, exc)

    def cancel(self) -> None:
        self.control.cancel()

    @property
    def is_running(self) -> bool:
        return not self.finished_in_thread.is_set()


class WorkerPool(QObject):
    """Starts :class:`Worker` s on a ``QThreadPool`` and keeps track of the live ones."""

    def __init__(self, max_threads: int | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        if max_threads is not None:
            self._pool.setMaxThreadCount(max_threads)
        self._live: list[Worker] = []

    def start(
        self,
        task: Task,
        name: str,
        *,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        progress_interval_s: float = 0.05,
        priority: int = 0,
    ) -> Worker:
        """Run ``task(control)`` in the background; callbacks run later on the GUI thread."""
        worker = Worker(task, name, progress_interval_s)
        worker.on_result = on_result
        worker.on_error = on_error
        worker.on_progress = on_progress
        worker.on_cancelled = on_cancelled

        def finished() -> None:
            if worker in self._live:
                self._live.remove(worker)
            if on_finished is not None:
                on_finished()

        worker.on_finished = finished
        self._live.append(worker)
        self._pool.start(worker, priority)
        return worker

    def live_workers(self) -> list[Worker]:
        """Workers whose task has not finished yet."""
        return [w for w in self._live if w.is_running]

    def is_idle(self) -> bool:
        """True when every task finished and its callbacks ran on the GUI thread."""
        return not self._live

    def cancel_all(self) -> None:
        for worker in list(self._live):
            worker.cancel()

    def wait_for_done(self, timeout_ms: int = 30_000) -> bool:
        """Block until every task returned (after :meth:`cancel_all`); False on timeout."""
        return bool(self._pool.waitForDone(timeout_ms))
