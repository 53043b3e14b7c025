"""The command line that runs ``dclip <subcommand>`` or the app *in this installation*.

The app starts export, training and the demo build as child processes (torch lives there, not in
the GUI), and ``dclip demo`` starts the app. How to start them depends on how DCLIP is installed:

1. from a checkout or a wheel: this interpreter with ``-m dclip_core`` / ``-m dclip_app``;
2. from a PyInstaller build (``sys.frozen``): there is no Python to run ``-m`` with, so the frozen
   executable runs itself with a hidden first argument, :data:`FROZEN_CLI` or :data:`FROZEN_APP`,
   that ``packaging/entry.py`` routes to the CLI or the app (:func:`route_frozen`).

Every child process goes through :func:`dclip_command` or :func:`app_command`; nothing else
builds ``sys.executable -m`` lines for them (ADR 0018).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Literal

FROZEN_CLI = "__dclip-cli__"
"""Hidden first argument: the frozen executable runs ``dclip ARGS`` (whichever executable it is)."""
FROZEN_APP = "__dclip-app__"
"""Hidden first argument: the frozen executable runs ``dclip-app ARGS``."""

Program = Literal["cli", "app"]


def is_frozen() -> bool:
    """Whether this process is a PyInstaller build (no interpreter to run ``-m`` with)."""
    return bool(getattr(sys, "frozen", False))


def dclip_command(*args: str) -> list[str]:
    """The command line of ``dclip ARGS`` in this installation."""
    if is_frozen():
        return [sys.executable, FROZEN_CLI, *args]
    return [sys.executable, "-m", "dclip_core", *args]


def app_command(*args: str) -> list[str]:
    """The command line of ``dclip-app ARGS`` in this installation."""
    if is_frozen():
        return [sys.executable, FROZEN_APP, *args]
    return [sys.executable, "-m", "dclip_app", *args]


def route_frozen(program: Program, argv: Sequence[str]) -> tuple[Program, list[str]]:
    """Which program a frozen executable runs, and with which arguments.

    Args:
        program: what the executable is by name (``dclip`` is the CLI, ``dclip-app`` the app).
        argv: its arguments, without the executable itself.

    Returns:
        The program a hidden first argument asks for (the rest of the arguments go to it), or
        ``program`` with ``argv`` unchanged.
    """
    if argv and argv[0] == FROZEN_CLI:
        return "cli", list(argv[1:])
    if argv and argv[0] == FROZEN_APP:
        return "app", list(argv[1:])
    return program, list(argv)
