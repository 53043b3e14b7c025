"""The ``dclip`` front door: every command listed, only the invoked one imported."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import dclip_core.cli as cli
from dclip_core.cli import COMMAND_TABLE, COMMANDS, CommandEntry, build_parser, main

REPO = Path(__file__).resolve().parents[3]


def _registrations() -> dict[str, CommandEntry]:
    """What the command modules register, found by importing every module of the package."""
    for module in pkgutil.iter_modules(cli.__path__, prefix=f"{cli.__name__}."):
        importlib.import_module(module.name)
    return {
        name: CommandEntry(cmd.configure.__module__, cmd.help) for name, cmd in COMMANDS.items()
    }


def test_the_command_table_matches_the_modules_registrations() -> None:
    # A command added to a module but not to the table (or renamed, or with a new help line)
    # would be missing from `dclip --help` or unreachable; this is the check that prevents it.
    assert _registrations() == COMMAND_TABLE


def test_help_lists_every_command_with_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    listing = " ".join(capsys.readouterr().out.split())
    for name, entry in COMMAND_TABLE.items():
        assert f"{name} {entry.help}" in listing


@pytest.mark.parametrize("name", list(COMMAND_TABLE))
def test_each_commands_help_shows_its_own_arguments(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    usage = " ".join(out.split("\n\n")[0].split())
    # A bare sub-parser's usage is just "[-h]": every command takes arguments or sub-commands.
    assert usage.startswith(f"usage: dclip {name} [-h] ")


def test_an_unknown_command_gets_argparses_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serach", "dogs"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'serach'" in err
    assert "'search'" in err


def test_no_command_prints_the_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "search the library" in capsys.readouterr().out


def test_global_options_before_the_command_still_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "elsewhere"
    monkeypatch.delenv("DCLIP_HOME")
    assert main(["--home", str(home), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert Path(status["library"]).is_relative_to(home)


def test_a_table_entry_its_module_does_not_register_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(COMMAND_TABLE, "ghost", CommandEntry("dclip_core.cli.models_cmd", "boo"))
    with pytest.raises(RuntimeError, match="does not register the command 'ghost'"):
        main(["ghost"])


def _modules_loaded_by(args: list[str]) -> set[str]:
    """The dclip_core and heavy third-party modules a fresh ``dclip ARGS`` process imported."""
    code = (
        "import contextlib, json, sys\n"
        "from dclip_core.cli import main\n"
        "with contextlib.redirect_stdout(sys.stderr):\n"
        "    try:\n"
        f"        main({args!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ},
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_a_search_imports_no_other_commands_code() -> None:
    loaded = _modules_loaded_by(["search", "--help"])
    command_modules = {m for m in loaded if m.startswith("dclip_core.cli.")}
    assert command_modules == {"dclip_core.cli.library_cmd"}
    for heavy in ("dclip_core.bench", "dclip_core.train", "dclip_core.export", "dclip_core.shapes"):
        assert heavy not in loaded
    assert "torch" not in loaded


def test_one_parser_parses_several_command_lines() -> None:
    parser = build_parser()
    first = parser.parse_args(["search", "a dog", "--limit", "3"])
    second = parser.parse_args(["search", "a cat", "--json"])
    status = parser.parse_args(["status"])
    assert (first.query, first.limit, second.query, second.json) == (["a dog"], 3, ["a cat"], True)
    assert status.command == "status"
