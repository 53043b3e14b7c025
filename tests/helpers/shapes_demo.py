"""One shapes demo per test session, built by ``dclip demo --no-app`` exactly as a user would.

Training the demo model is the expensive part of the shapes tests, so the e2e search test and the
demo test share it: whichever runs first builds it under the session's base temp folder, the other
finds it there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def dclip(*args: str, home: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``dclip --home HOME ARGS`` in a fresh interpreter."""
    env = {**os.environ, "DCLIP_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "dclip_core", "--home", str(home), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=timeout,
    )


@dataclass(frozen=True)
class BuiltDemo:
    """The user home the demo ran in, and what the first ``dclip demo --no-app`` printed."""

    user_home: Path
    first_run: subprocess.CompletedProcess[str]

    @property
    def demo_home(self) -> Path:
        return self.user_home / "data" / "demo"

    @property
    def bundle(self) -> Path:
        return self.demo_home / "data" / "bundles" / "shapes-demo"

    @property
    def photos(self) -> Path:
        return self.demo_home / "world" / "test"


def shared_demo(tmp_path_factory: pytest.TempPathFactory) -> BuiltDemo:
    """Build the demo once per session (``dclip demo --no-app``) and return where it is."""
    user_home = tmp_path_factory.getbasetemp() / "shapes-demo-user"
    record = user_home / "first-run.json"
    if record.is_file():
        saved = json.loads(record.read_text())
        run = subprocess.CompletedProcess(saved["args"], saved["rc"], saved["out"], saved["err"])
        return BuiltDemo(user_home, run)
    user_home.mkdir(parents=True, exist_ok=True)
    run = dclip("demo", "--no-app", home=user_home)
    assert run.returncode == 0, run.stderr[-3000:]
    record.write_text(
        json.dumps({"args": run.args, "rc": run.returncode, "out": run.stdout, "err": run.stderr})
    )
    return BuiltDemo(user_home, run)
