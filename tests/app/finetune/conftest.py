"""Fixtures of the fine-tune wizard tests: a captioned folder, a tiny recipe, no child left over."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from dclip_app.finetune import process as training_process
from dclip_app.finetune.wizard import STOP, FinetuneWizard

# test-tiny on 24 64-px scenes, ground-truth regions, a checkpoint every 2 steps: the teacher runs
# 9 steps and the student 6 (seconds on 2 cores); the bundle skips explain/ to save its export.
TINY = [
    "--regions", "gt", "--no-explain",
    "--set", "precision=fp32", "--set", "checkpoint_every=2",
    "--set", "teacher.batch_size=8", "--set", "teacher.epochs=3", "--set", "teacher.lr=3e-3",
    "--set", "student.batch_size=8", "--set", "student.epochs=2", "--set", "student.lr=1e-4",
]  # fmt: skip


@pytest.fixture
def tiny() -> list[str]:
    """``dclip finetune`` arguments of a run that takes seconds (:data:`TINY`)."""
    return list(TINY)


@pytest.fixture
def captioned(shapes_folder: Path) -> Path:
    """24 captioned photos (a captions.csv folder) of one's own, in ``tmp_path/captioned``."""
    return shapes_folder


@pytest.fixture(autouse=True)
def _no_questions(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wizard closed while training (a failed test's teardown) stops it instead of asking."""
    monkeypatch.setattr(FinetuneWizard, "_ask_leave_running", lambda self: STOP)


@pytest.fixture(autouse=True)
def _no_training_left() -> Iterator[None]:
    """Kill any training child a failed test left running (they are detached from the test)."""
    yield
    for pid, child in list(training_process._STARTED.items()):
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            child.wait(timeout=30)
