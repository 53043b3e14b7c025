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

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dclip_app.child_process import parse_event, run_child
from dclip_app.workers import TaskCancelled, TaskControl
from dclip_core.config.processes import app_command, dclip_command
from dclip_core.errors import DemoError

# After "stop" the child finishes its current step (at most ~10 training steps) and cleans up; a
# child still busy after this long is killed, which every phase survives (see ADR 0010).
DEMO_STOP_GRACE_S = 10.0


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
        def report(line: str) -> None:
            event = parse_event(line)
            if event.get("event") == "progress":
                control.report(str(event.get("line", "")), force=True)

        output = run_child(
            demo_build_command(sizes), control, on_line=report, stop_grace_s=stop_grace_s
        )
        if control.cancelled:
            raise TaskCancelled
        finished = [e for e in map(parse_event, output.lines) if e.get("event") == "done"]
        if output.code == 0 and finished:
            done = finished[-1]
            return BuiltDemo(
                home=Path(str(done["home"])),
                bundle=Path(str(done["bundle"])),
                photos=Path(str(done["photos"])),
                banner=str(done["banner"]),
                indexed=int(str(done["indexed"])),
            )
        raise DemoError(f"building the demo failed: {output.error_line()}")

    return task


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
