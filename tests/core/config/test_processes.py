"""Child processes run `dclip …` / the app of this installation: the interpreter from a checkout
or a wheel, the frozen executable itself (with a hidden first argument) in a PyInstaller build."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from dclip_core.config import processes
from dclip_core.config.processes import (
    FROZEN_APP,
    FROZEN_CLI,
    app_command,
    dclip_command,
    route_frozen,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> str:
    """Pretend to be the PyInstaller build's ``dclip-app`` executable."""
    executable = "/opt/dclip-slim/dclip-app"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", executable)
    return executable


def test_from_a_checkout_or_a_wheel_the_interpreter_runs_the_packages() -> None:
    assert not processes.is_frozen()
    assert dclip_command("export", "--model", "m") == [
        sys.executable, "-m", "dclip_core", "export", "--model", "m",
    ]  # fmt: skip
    assert app_command("--home", "h") == [sys.executable, "-m", "dclip_app", "--home", "h"]


def test_a_frozen_build_runs_itself_with_a_hidden_subcommand(frozen: str) -> None:
    assert dclip_command("demo", "--events", "jsonl") == [
        frozen,
        FROZEN_CLI,
        "demo",
        "--events",
        "jsonl",
    ]
    assert app_command("--banner", "b") == [frozen, FROZEN_APP, "--banner", "b"]


@pytest.mark.parametrize(
    ("program", "argv", "routed"),
    [
        ("cli", ["search", "cat"], ("cli", ["search", "cat"])),
        ("app", ["--home", "h"], ("app", ["--home", "h"])),
        ("app", [FROZEN_CLI, "export", "--model", "m"], ("cli", ["export", "--model", "m"])),
        ("cli", [FROZEN_APP, "--home", "h"], ("app", ["--home", "h"])),
        ("cli", [], ("cli", [])),
        ("cli", ["search", FROZEN_APP], ("cli", ["search", FROZEN_APP])),  # only the first counts
    ],
)
def test_route_frozen(program: processes.Program, argv: list[str], routed: object) -> None:
    assert route_frozen(program, argv) == routed


def test_no_child_process_is_started_with_sys_executable_m_directly() -> None:
    """The launch sites go through dclip_command / app_command, so a frozen build can run them.

    Benchmarks are left out: they time fresh interpreters of a development install on purpose.
    """
    pattern = re.compile(r"""sys\.executable,\s*"-m",\s*"dclip_(core|app)"[,\]]""")
    offenders = [
        str(path.relative_to(REPO))
        for package in ("dclip_core", "dclip_app")
        for path in (REPO / package).rglob("*.py")
        if path.name != "processes.py"
        and "bench" not in path.relative_to(REPO).parts
        and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
