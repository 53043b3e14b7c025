"""The training child process: started detached, followed through its run folder.

A fine-tune runs for minutes to hours and must survive the wizard and the app closing, so, unlike
the short children of :mod:`dclip_app.child_process`, it owns no pipe to the app:

1. :meth:`TrainingProcess.start` runs ``dclip finetune --events jsonl …`` in a session of its own
   (a closing app does not signal it), stdout and stderr in unnamed temporary files (read only to
   explain a failure);
2. events are read from ``<run>/events.jsonl``, where the child appends every event of every
   attempt (:class:`~dclip_app.finetune.events_file.EventTail`), on a GUI-thread timer — the same
   path a re-attached wizard follows (:meth:`TrainingProcess.attach`), so both see one stream;
3. once the run folder exists, the child's pid is written to it
   (:func:`~dclip_app.finetune.runs.write_process_file`) for the next app start to find;
4. :meth:`TrainingProcess.stop` sends SIGINT: the training stage checkpoints and exits 130;
5. when the process is gone, the last events are read and :attr:`TrainingProcess.ended` says so.

Children this app started stay in :data:`_STARTED` (pid → Popen) so they are reaped, even when
the wizard that started them closed and a new one re-attached.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from PySide6.QtCore import QObject, QTimer, Signal

from dclip_app.child_process import ChildOutput, parse_event
from dclip_app.finetune.events_file import EVENTS_FILE, EventTail
from dclip_app.finetune.runs import RUN_FILE, process_alive, write_process_file

POLL_MS = 200
_STARTED: dict[int, subprocess.Popen[bytes]] = {}
_OUTPUTS: dict[int, tuple[IO[bytes], IO[bytes]]] = {}


class TrainingProcess(QObject):
    """Starts or re-attaches to one run's training process and relays its events."""

    events = Signal(object)  # list[dict]: the run's new events, in order
    ended = Signal(object)  # int | None: the exit code (None: not our child, code unknown)

    def __init__(self, poll_ms: int = POLL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.pid: int | None = None
        self.command: list[str] = []
        self._tail: EventTail | None = None
        self._pid_written = False
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self.poll)

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def start(self, command: Sequence[str], run_dir: Path) -> None:
        """Start the child for ``run_dir`` (a new ``--out`` or a ``--resume``) and follow it."""
        stdout = tempfile.TemporaryFile()  # noqa: SIM115 - kept until the child is reaped
        stderr = tempfile.TemporaryFile()  # noqa: SIM115
        detach: dict[str, Any] = {"start_new_session": True}
        if sys.platform == "win32":
            detach = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            **detach,
        )
        _STARTED[process.pid] = process
        _OUTPUTS[process.pid] = (stdout, stderr)
        self.command = list(command)
        self._follow(run_dir, process.pid)

    def attach(self, run_dir: Path, pid: int) -> None:
        """Follow a run whose process ``pid`` is already running (started earlier, or elsewhere)."""
        self.command = []
        self._follow(run_dir, pid)
        self._pid_written = True  # whoever started it recorded it

    def _follow(self, run_dir: Path, pid: int) -> None:
        self.run_dir, self.pid = run_dir, pid
        self._tail = EventTail(run_dir / EVENTS_FILE)
        self._pid_written = False
        self._timer.start()

    def poll(self) -> None:
        """Relay new events; notice the run folder appearing and the process ending."""
        if self._tail is None or self.pid is None or self.run_dir is None:
            return
        if not self._pid_written and (self.run_dir / RUN_FILE).is_file():
            write_process_file(self.run_dir, self.pid, self.command)
            self._pid_written = True
        alive = self.is_alive()
        new = self._tail.read()  # after the liveness check: no event is left behind
        if new:
            self.events.emit(new)
        if not alive:
            self._timer.stop()
            self.ended.emit(exit_code(self.pid))

    def is_alive(self) -> bool:
        if self.pid is None:
            return False
        child = _STARTED.get(self.pid)
        if child is not None:
            return child.poll() is None
        return bool(process_alive(self.pid))

    def stop(self) -> None:
        """Ask the training to stop: it checkpoints and exits (130); Resume continues there."""
        if self.pid is None or not self.is_alive():
            return
        with contextlib.suppress(ProcessLookupError):
            if sys.platform == "win32":
                os.kill(self.pid, signal.CTRL_BREAK_EVENT)
            else:
                os.kill(self.pid, signal.SIGINT)

    def kill(self) -> None:
        """End the process at once (no checkpoint: a resume starts from the last one saved)."""
        if self.pid is not None and self.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM)

    def detach(self) -> None:
        """Stop following without touching the process (the wizard closes; training goes on)."""
        self._timer.stop()

    def failure(self) -> str:
        """The child's own error line, when this app started it and it failed."""
        if self.pid is None:
            return ""
        output = child_output(self.pid)
        return output.error_line() if output is not None else ""


def exit_code(pid: int) -> int | None:
    """The exit code of a child this app started (None for a process it attached to)."""
    child = _STARTED.get(pid)
    return child.poll() if child is not None else None


def child_output(pid: int) -> ChildOutput | None:
    """What a finished child this app started printed (stdout lines, stderr's tail)."""
    child, files = _STARTED.get(pid), _OUTPUTS.get(pid)
    if child is None or files is None or child.poll() is None:
        return None
    texts = []
    for handle in files:
        handle.seek(0)
        texts.append(handle.read().decode("utf-8", errors="replace"))
    lines = [ln.strip() for ln in texts[0].splitlines() if ln.strip()]
    tail = [ln.strip() for ln in texts[1].splitlines() if ln.strip()]
    events = [parse_event(line) for line in lines]
    errors = [line for line, e in zip(lines, events, strict=True) if e.get("event") == "error"]
    return ChildOutput(child.returncode, errors or lines[-1:], tail[-5:])
