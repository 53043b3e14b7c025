"""Fine-tune run folders on disk: which are unfinished, and whether their process still runs
(Qt-free; the app calls :func:`find_unfinished_runs` at startup).

1. Runs live in ``<data dir>/finetune/<name>/`` (``dclip finetune``'s default); a run is finished
   when its ``finetune.json`` records the ``export`` stage.
2. When the wizard starts a training process it writes :data:`PROCESS_FILE` into the run folder:
   the child's pid and command line. ``finetune.json``'s own ``pid`` (the process that created the
   run) covers runs started from the command line.
3. A pid counts as running only while that process is alive and is a ``dclip finetune`` (on
   Linux its ``/proc`` command line is read, so a recycled pid is not mistaken for it); where
   processes cannot be asked (Windows), an ``events.jsonl`` written in the last
   :data:`GROWING_S` seconds counts instead.

The run folder's json is read directly: ``dclip_core.finetune.run_folder`` imports the training
package, which the app never imports.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dclip_app.finetune.events_file import EVENTS_FILE
from dclip_app.finetune.stages import STAGES, next_stage
from dclip_core.config.paths import atomic_write_text, get_paths

RUN_FILE = "finetune.json"
PROCESS_FILE = "wizard-process.json"
# Without a way to ask the OS, a run whose events grew this recently is taken to be running.
GROWING_S = 120.0


def runs_root() -> Path:
    """Where ``dclip finetune`` puts its runs by default: ``<data dir>/finetune``."""
    return get_paths().data_dir / "finetune"


@dataclass(frozen=True)
class UnfinishedRun:
    """A run folder whose export is not recorded.

    Attributes:
        path: the run folder.
        created: when it was created (ISO time, as ``finetune.json`` says).
        sources: its ``--data`` specs.
        base_model: the model it fine-tunes.
        finished_stages: the stages recorded as done.
        pid: the training process, while it still runs (None: nothing runs it now).
    """

    path: Path
    created: str
    sources: list[str]
    base_model: str
    finished_stages: list[str]
    pid: int | None

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def next_stage(self) -> str:
        return next_stage(self.finished_stages) or STAGES[-1]

    def describe(self) -> str:
        """One line for the startup question."""
        what = ", ".join(self.sources) or "?"
        state = "still training" if self.running else f"stopped before {self.next_stage}"
        return f"{self.path.name}: {what} ({state})"


def read_run_file(run_dir: Path) -> dict[str, Any] | None:
    """``finetune.json`` of ``run_dir``, or None when missing or unreadable."""
    try:
        data = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def finished_stages(data: dict[str, Any]) -> list[str]:
    stages = data.get("stages") or {}
    return [s for s in STAGES if s in stages]


def is_finished(run_dir: Path) -> bool:
    data = read_run_file(run_dir)
    return data is not None and STAGES[-1] in finished_stages(data)


def find_unfinished_runs(root: Path | None = None) -> list[UnfinishedRun]:
    """Runs under ``root`` (default :func:`runs_root`) without a recorded export, newest first.

    Hidden folders (a run being assembled, ``.<name>.partial``) and unreadable ones are skipped.
    """
    root = runs_root() if root is None else root
    if not root.is_dir():
        return []
    found = []
    for run_file in root.glob(f"*/{RUN_FILE}"):
        run_dir = run_file.parent
        data = None if run_dir.name.startswith(".") else read_run_file(run_dir)
        if data is None:
            continue
        stages = finished_stages(data)
        if STAGES[-1] in stages:
            continue
        options = data.get("options") or {}
        found.append(
            UnfinishedRun(
                path=run_dir,
                created=str(data.get("created", "")),
                sources=[str(s) for s in options.get("sources") or []],
                base_model=str(data.get("base_model", "")),
                finished_stages=stages,
                pid=running_pid(run_dir, data),
            )
        )
    return sorted(found, key=lambda r: (r.created, r.path.name), reverse=True)


def write_process_file(run_dir: Path, pid: int, command: Sequence[str]) -> None:
    """Record the training process the wizard started for ``run_dir`` (step 2)."""
    record = {"pid": pid, "started": time.time(), "command": list(command)}
    atomic_write_text(run_dir / PROCESS_FILE, json.dumps(record, indent=2))


def running_pid(run_dir: Path, data: dict[str, Any] | None = None) -> int | None:
    """The pid of the process that still trains ``run_dir``, or None (step 3)."""
    candidates: list[int] = []
    # The wizard's record of the child it started; a run started from the command line has none.
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        record = json.loads((run_dir / PROCESS_FILE).read_text(encoding="utf-8"))
        candidates.append(int(record["pid"]))
    data = read_run_file(run_dir) if data is None else data
    if data is not None and isinstance(data.get("pid"), int):
        candidates.append(int(data["pid"]))
    for pid in candidates:
        alive = process_alive(pid)
        if alive is None:
            return pid if _events_growing(run_dir) else None
        if alive:
            return pid
    return None


def process_alive(pid: int) -> bool | None:
    """Whether ``pid`` is a live ``dclip finetune`` process; None where the OS cannot tell us."""
    if sys.platform == "win32":
        return None  # os.kill(pid, 0) would terminate it there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: a recycled pid
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():
        return True  # alive, and no /proc to tell what it is (macOS)
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    return state != "Z" and b"finetune" in cmdline


def _events_growing(run_dir: Path) -> bool:
    try:
        return time.time() - (run_dir / EVENTS_FILE).stat().st_mtime < GROWING_S
    except OSError:
        return False


def new_run_dir(root: Path | None = None) -> Path:
    """``<root>/<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``… when taken), named as ``dclip finetune``
    names its runs."""
    root = runs_root() if root is None else root
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate, number = root / stamp, 1
    while candidate.exists() or (root / f".{candidate.name}.partial").exists():
        number += 1
        candidate = root / f"{stamp}-{number}"
    return candidate
