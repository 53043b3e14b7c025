"""The ``dclip`` command.

Each sub-command lives in its own module of this package and registers itself in :data:`COMMANDS`
through :func:`command`; ``main`` only parses global flags, dispatches, and turns a
:class:`~dclip_core.errors.DclipError` into one line on stderr and a non-zero exit code.
Sub-command modules import heavy libraries (torch, onnxruntime) inside their handlers, never at
module level, so ``dclip --help`` and ``dclip search`` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dclip_core import __version__
from dclip_core.config.paths import HOME_ENV
from dclip_core.errors import DclipError

Configure = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    """A sub-command: its help line and the function that adds its arguments and ``handler``."""

    name: str
    help: str
    configure: Configure


COMMANDS: dict[str, Command] = {}

# Modules whose import registers sub-commands, in the order `dclip --help` lists them.
COMMAND_MODULES = (
    "dclip_core.cli.models_cmd",
    "dclip_core.cli.export_cmd",
    "dclip_core.cli.train_cmd",
    "dclip_core.cli.eval_cmd",
    "dclip_core.cli.library_cmd",
    "dclip_core.cli.bench_cmd",
    "dclip_core.cli.demo_cmd",
)


def command(name: str, help: str) -> Callable[[Configure], Configure]:
    """Register a sub-command.

    Decorates ``configure(parser)``, which adds the arguments and sets the ``handler`` default: a
    function ``(args) -> exit code``. Nested commands (``dclip models list``) add sub-parsers there.
    """

    def decorate(configure: Configure) -> Configure:
        COMMANDS[name] = Command(name=name, help=help, configure=configure)
        return configure

    return decorate


def build_parser() -> argparse.ArgumentParser:
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    parser = argparse.ArgumentParser(
        prog="dclip",
        description="Search, explain and teach a vision-language model on your own photos.",
    )
    parser.add_argument("--version", action="version", version=f"dclip {__version__}")
    parser.add_argument(
        "--home",
        metavar="DIR",
        help=f"keep every file dclip writes under DIR (same as {HOME_ENV}=DIR)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS.values():
        cmd_parser = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.configure(cmd_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.home:
        os.environ[HOME_ENV] = os.path.abspath(os.path.expanduser(args.home))
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except DclipError as exc:
        print(f"dclip: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dclip: interrupted", file=sys.stderr)
        return 130


def warn_meaningless(model_name: str) -> None:
    """Tell the user that a random-init model gives noise (printed by every command using one)."""
    print(
        f"dclip: note: model {model_name!r} has random weights; its results are meaningless "
        "(it exists for tests and benchmarks)",
        file=sys.stderr,
    )
