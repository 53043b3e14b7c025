"""Run a short ``dclip`` child process from a worker task and read its output line by line.

Torch never loads in the app (import-linter contract), so everything that trains, exports or
embeds with torch runs as a ``dclip`` child (docs/adr/0010-app-demo.md, 0023-finetune-wizard.md).
This module is the one way the app runs a child it waits for (the demo build, the fine-tune's data
check, ``dclip models activate``):

1. :func:`run_child` starts the command with stdout piped and stderr in a temporary file;
2. a reader thread moves stdout lines into a queue, so the task sees a cancel at once even while
   the child is silent (importing torch takes seconds);
3. each line goes to ``on_line`` (:func:`parse_event` reads ``--events jsonl`` lines);
4. on cancel, ``request_stop`` asks the child to stop (by default: its stdin is closed) and the
   child is killed after ``stop_grace_s``;
5. the exit code, every stdout line and the tail of stderr come back as a :class:`ChildOutput`.

The fine-tune's training is the exception: it must outlive the app, so it is started detached and
followed through its run folder (:mod:`dclip_app.finetune.process`).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from dclip_app.workers import TaskControl

# Lines kept from a child's stderr to explain a failure.
ERROR_TAIL_LINES = 5
CLI_ERROR_PREFIX = "dclip: error: "


@dataclass(frozen=True)
class ChildOutput:
    """How a child process ended.

    Attributes:
        code: its exit code (negative: killed by that signal).
        lines: every stdout line, stripped, in order.
        stderr_tail: the last non-empty stderr lines (at most :data:`ERROR_TAIL_LINES`).
    """

    code: int
    lines: list[str]
    stderr_tail: list[str]

    def error_line(self) -> str:
        """The child's own one-line error: the last ``error`` event, else the tail of stderr."""
        errors = [
            str(e.get("message")) for e in map(parse_event, self.lines) if e.get("event") == "error"
        ]
        if errors:
            return errors[-1]
        # `dclip` ends a refusal with "dclip: error: <what to do>": the app shows what to do.
        detail = "; ".join(line.removeprefix(CLI_ERROR_PREFIX) for line in self.stderr_tail)
        return detail or f"exit code {self.code}"


def close_stdin(process: subprocess.Popen[str]) -> None:
    """The default stop request: the child sees end-of-file on stdin (``--stop-on-eof``)."""
    if process.stdin is not None:
        close_quietly(process.stdin)


def run_child(
    command: Sequence[str],
    control: TaskControl,
    *,
    on_line: Callable[[str], None] | None = None,
    request_stop: Callable[[subprocess.Popen[str]], None] = close_stdin,
    stop_grace_s: float = 10.0,
) -> ChildOutput:
    """Run ``command`` until it exits, passing its stdout lines on (steps in the module docstring).

    Args:
        command: the child's command line (build it with ``dclip_command``).
        control: the worker task's control; a cancel asks the child to stop.
        on_line: called on the task's thread with each stdout line, stripped.
        request_stop: how to ask the child to stop when the task is cancelled.
        stop_grace_s: how long a stopping child may take before it is killed.
    """
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as stderr:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        lines = _follow(process, control, on_line, request_stop, stop_grace_s)
        code = process.wait()
        stderr.seek(0)
        tail = [ln.strip() for ln in stderr.read().splitlines() if ln.strip()]
    return ChildOutput(code, lines, tail[-ERROR_TAIL_LINES:])


def _follow(
    process: subprocess.Popen[str],
    control: TaskControl,
    on_line: Callable[[str], None] | None,
    request_stop: Callable[[subprocess.Popen[str]], None],
    stop_grace_s: float,
) -> list[str]:
    """Pass the child's lines on until its stdout ends; stop it when cancelled."""
    assert process.stdout is not None
    pending: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump_lines, args=(process.stdout, pending), daemon=True)
    reader.start()
    lines: list[str] = []
    stop_deadline: float | None = None
    while True:
        try:
            line = pending.get(timeout=0.1)
        except queue.Empty:
            line = ""
        if line is None:
            break
        if line:
            lines.append(line)
            if on_line is not None:
                on_line(line)
        if control.cancelled and stop_deadline is None:
            request_stop(process)
            stop_deadline = time.monotonic() + stop_grace_s
        if stop_deadline is not None and time.monotonic() > stop_deadline:
            process.kill()
            stop_deadline = float("inf")
    reader.join()
    if process.stdin is not None:
        close_quietly(process.stdin)
    return lines


def _pump_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Move the child's stdout lines into ``lines``; ``None`` marks the end."""
    try:
        for line in stream:
            lines.put(line.strip())
    finally:
        lines.put(None)


def parse_event(line: str) -> dict[str, object]:
    """One ``--events jsonl`` line; anything else the child printed becomes a progress line."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return {"event": "progress", "line": line}
    return event if isinstance(event, dict) else {"event": "progress", "line": line}


def close_quietly(stream: IO[str]) -> None:
    """Close a pipe to a child that may have exited (the close then fails: nobody to tell)."""
    with contextlib.suppress(OSError):
        stream.close()
