"""The first-run demo: build ``dclip demo``'s offline demo in a child process, then open it.

The demo (a shapes world, a small model trained on this CPU, the demo photos indexed) lives in its
own DCLIP home, so the user's settings and library are never opened. Training needs torch, which
the app never imports, so the build runs as ``dclip demo --events jsonl --stop-on-eof`` (the core's
:func:`~dclip_core.shapes.demo.prepare_demo`, speaking JSON lines on stdout);
:func:`build_demo_task` drives it from the app's worker pool and :func:`open_demo_app` opens the
result in an app window of its own. Why a window of its own and how stopping works:
docs/adr/0010-app-demo.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dclip_app.workers import TaskCancelled, TaskControl
from dclip_core.config.processes import app_command, dclip_command
from dclip_core.errors import DemoError

# After "stop" the child finishes its current step (at most ~10 training steps) and cleans up; a
# child still busy after this long is killed, which every phase survives (see ADR 0010).
DEMO_STOP_GRACE_S = 10.0
# Lines kept from the child's stderr to explain a failure.
_ERROR_TAIL_LINES = 5


@dataclass(frozen=True)
class DemoSizes:
    """How much demo to build (tests pass tiny values; the app uses ``dclip demo``'s own sizes).

    Attributes:
        pretrain_steps: optimiser steps of the demo model's pretraining.
        pretrain_scenes, finetune_scenes, test_scenes, seed: the shapes world's
            :class:`~dclip_core.shapes.world.WorldSize`; the demo library is the test part.
    """

    pretrain_steps: int
    pretrain_scenes: int
    finetune_scenes: int
    test_scenes: int
    seed: int = 77

    def to_args(self) -> list[str]:
        world = f"{self.pretrain_scenes},{self.finetune_scenes},{self.test_scenes},{self.seed}"
        return ["--pretrain-steps", str(self.pretrain_steps), "--world", world]


@dataclass(frozen=True)
class BuiltDemo:
    """A finished demo: its own DCLIP home (settings point at the bundle, photos indexed)."""

    home: Path
    bundle: Path
    photos: Path
    banner: str
    indexed: int


def demo_build_command(sizes: DemoSizes | None = None) -> list[str]:
    """The child process that builds the demo (``None``: the sizes ``dclip demo`` uses)."""
    command = dclip_command("demo", "--events", "jsonl", "--stop-on-eof")
    return command + (sizes.to_args() if sizes is not None else [])


def build_demo_task(
    sizes: DemoSizes | None = None, *, stop_grace_s: float = DEMO_STOP_GRACE_S
) -> Callable[[TaskControl], BuiltDemo]:
    """A worker task that builds the demo in a child process and reports its progress lines.

    The child builds the shapes world, trains and exports the demo model (cached after the first
    time) and indexes the demo photos, all under ``demo_home()``; the user's own settings and
    library are never opened. Cancel asks the child to stop (it closes the child's stdin), then
    kills it after ``stop_grace_s``.
    """

    def task(control: TaskControl) -> BuiltDemo:
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as stderr:
            process = subprocess.Popen(
                demo_build_command(sizes),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            events = _follow(process, control, stop_grace_s)
            code = process.wait()
            stderr.seek(0)
            stderr_tail = [ln.strip() for ln in stderr.read().splitlines() if ln.strip()]
        if control.cancelled:
            raise TaskCancelled
        finished = [e for e in events if e.get("event") == "done"]
        if code == 0 and finished:
            done = finished[-1]
            return BuiltDemo(
                home=Path(str(done["home"])),
                bundle=Path(str(done["bundle"])),
                photos=Path(str(done["photos"])),
                banner=str(done["banner"]),
                indexed=int(str(done["indexed"])),
            )
        errors = [str(e.get("message")) for e in events if e.get("event") == "error"]
        detail = errors[-1] if errors else "; ".join(stderr_tail[-_ERROR_TAIL_LINES:])
        raise DemoError(f"building the demo failed: {detail or f'exit code {code}'}")

    return task


def _follow(
    process: subprocess.Popen[str], control: TaskControl, stop_grace_s: float
) -> list[dict[str, object]]:
    """Pass the child's progress lines on until its stdout ends; stop it when cancelled.

    Returns:
        Every event the child sent.
    """
    assert process.stdin is not None
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    # Reading the pipe blocks; a reader thread lets the task see a cancel at once even while the
    # child is silent (importing torch takes seconds).
    reader = threading.Thread(target=_pump_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    events: list[dict[str, object]] = []
    stop_deadline: float | None = None
    while True:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            line = ""
        if line is None:
            break
        if line:
            event = _parse_event(line)
            events.append(event)
            if event.get("event") == "progress":
                control.report(str(event.get("line", "")), force=True)
        if control.cancelled and stop_deadline is None:
            _close_quietly(process.stdin)  # the child's stop request
            stop_deadline = time.monotonic() + stop_grace_s
        if stop_deadline is not None and time.monotonic() > stop_deadline:
            process.kill()
            stop_deadline = float("inf")
    reader.join()
    _close_quietly(process.stdin)
    return events


def _pump_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Move the child's stdout lines into ``lines``; ``None`` marks the end."""
    try:
        for line in stream:
            lines.put(line.strip())
    finally:
        lines.put(None)


def _parse_event(line: str) -> dict[str, object]:
    """One protocol line; anything else the child printed becomes a progress line."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return {"event": "progress", "line": line}
    return event if isinstance(event, dict) else {"event": "progress", "line": line}


def _close_quietly(stream: IO[str]) -> None:
    # A child that already exited makes the close fail (broken pipe): nobody is left to tell.
    with contextlib.suppress(OSError):
        stream.close()


@dataclass(frozen=True)
class DemoApp:
    """The demo's own app window, running as a separate process."""

    demo: BuiltDemo
    command: list[str]
    process: subprocess.Popen[bytes]
    log: Path


def demo_app_command(demo: BuiltDemo) -> list[str]:
    """``dclip-app --home <demo home> --banner <what the demo is>``."""
    return app_command("--home", str(demo.home), "--banner", demo.banner)


def open_demo_app(demo: BuiltDemo) -> DemoApp:
    """Start the app on the demo's home as a detached process that outlives this window.

    Its output goes to ``<demo home>/demo-app.log``, which the panel quotes if it fails to start.
    """
    command = demo_app_command(demo)
    log = demo.home / "demo-app.log"
    # Its own session (process group on Windows): closing this window must not take it along.
    detach: dict[str, object] = {"start_new_session": True}
    if sys.platform == "win32":
        detach = {
            "creationflags": subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
        }
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            close_fds=True,
            **detach,  # type: ignore[call-overload]
        )
    return DemoApp(demo, command, process, log)
