"""The ``dclip`` command.

Each sub-command lives in its own module of this package and registers itself in :data:`COMMANDS`
through :func:`command`. :data:`COMMAND_TABLE` names every sub-command with its module and help
line, so ``dclip --help`` lists them all while a run imports only the invoked command's module (a
search never loads training, export or benchmark code; ADR 0011). ``main`` only parses global
flags, dispatches, and turns a :class:`~dclip_core.errors.DclipError` into one line on stderr and
a non-zero exit code. Sub-command modules import heavy libraries (torch, onnxruntime) inside their
handlers, never at module level, so ``dclip --help`` and ``dclip search`` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, NoReturn

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


class CommandEntry(NamedTuple):
    """Where a sub-command is registered, and its help line (the same as its ``@command``)."""

    module: str
    help: str


# Every sub-command, in the order `dclip --help` lists them. A new command module adds its
# commands here; tests/core/cli/test_lazy_commands.py fails when this table and the modules'
# @command registrations disagree.
COMMAND_TABLE: dict[str, CommandEntry] = {
    "models": CommandEntry(
        "dclip_core.cli.models_cmd",
        "list, inspect, download, import, activate and roll back models",
    ),
    "export": CommandEntry(
        "dclip_core.cli.export_cmd", "export a model or checkpoint to an ONNX model bundle"
    ),
    "train-teacher": CommandEntry(
        "dclip_core.cli.train_cmd", "train the DCLIP cross-modal teacher on captioned images"
    ),
    "distill": CommandEntry(
        "dclip_core.cli.train_cmd", "distil a trained teacher into a student CLIP (hybrid loss)"
    ),
    "finetune": CommandEntry(
        "dclip_core.cli.finetune_cmd",
        "fine-tune on your captioned photos: check, train, evaluate, export (resumable)",
    ),
    "eval": CommandEntry(
        "dclip_core.cli.eval_cmd",
        "measure retrieval and zero-shot accuracy, base vs student, in one run",
    ),
    "index": CommandEntry(
        "dclip_core.cli.library_cmd",
        "add photo folders to the library and index new or changed photos",
    ),
    "search": CommandEntry(
        "dclip_core.cli.library_cmd", "search the library with text, example images, or both"
    ),
    "status": CommandEntry(
        "dclip_core.cli.library_cmd",
        "show the library: folders, counts, models and files that failed",
    ),
    "forget": CommandEntry(
        "dclip_core.cli.library_cmd",
        "remove a folder from the library (the photos themselves are not touched)",
    ),
    "annotate": CommandEntry(
        "dclip_core.cli.annotate_cmd",
        "export, import and review photo annotations (captions, labelled boxes)",
    ),
    "explain": CommandEntry(
        "dclip_core.cli.explain_cmd", "show which photo regions each word of a query attends to"
    ),
    "bench": CommandEntry(
        "dclip_core.cli.bench_cmd", "measure speed and quality against a baseline in the same run"
    ),
    "demo": CommandEntry(
        "dclip_core.cli.demo_cmd",
        "build and open an offline demo library searched by a model trained here",
    ),
}

# The modules that register sub-commands, each once, in table order.
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(e.module for e in COMMAND_TABLE.values()))


def command(name: str, help: str) -> Callable[[Configure], Configure]:
    """Register a sub-command.

    Decorates ``configure(parser)``, which adds the arguments and sets the ``handler`` default: a
    function ``(args) -> exit code``. Nested commands (``dclip models list``) add sub-parsers there.
    """

    def decorate(configure: Configure) -> Configure:
        COMMANDS[name] = Command(name=name, help=help, configure=configure)
        return configure

    return decorate


def load_command(name: str) -> Command:
    """Import the module of sub-command ``name`` (see :data:`COMMAND_TABLE`) and return it."""
    importlib.import_module(COMMAND_TABLE[name].module)
    try:
        return COMMANDS[name]
    except KeyError:
        raise RuntimeError(
            f"{COMMAND_TABLE[name].module} does not register the command {name!r} that "
            "COMMAND_TABLE says it does; correct the table"
        ) from None


class _LazyCommandParsers(argparse._SubParsersAction):
    """Sub-parsers that get their arguments only when argparse dispatches to them.

    Every command has a (bare) sub-parser from the start, so ``dclip --help`` lists it and an
    unknown name gets argparse's usual error; the one that is invoked is configured just before
    it parses the rest of the command line, which imports only that command's module.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._configured: set[str] = set()  # a parser may parse several command lines

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        name = values[0]
        if name in COMMAND_TABLE and name not in self._configured:
            load_command(name).configure(self._name_parser_map[name])
            self._configured.add(name)
        super().__call__(parser, namespace, values, option_string)


def build_parser() -> argparse.ArgumentParser:
    """The ``dclip`` parser; a sub-command's arguments are added when it is invoked."""
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", action=_LazyCommandParsers)
    for name, entry in COMMAND_TABLE.items():
        sub.add_parser(name, help=entry.help, description=entry.help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dclip ARGV`` in this process and return its exit code (tests call this)."""
    parser = build_parser()
    return _dispatch(parser, parser.parse_args(argv))


# Commands after which a successful process may end without the interpreter's teardown: they
# only read, close what they open, and leave nothing running once they return. Freeing ONNX
# Runtime sessions and numpy's state at exit took ~0.15 s of a 1.7 s cold `dclip search`, for
# memory the operating system reclaims anyway.
EXIT_WITHOUT_TEARDOWN = frozenset({"search"})


def run() -> NoReturn:
    """The process entry point (the ``dclip`` script, ``python -m dclip_core``)."""
    parser = build_parser()
    args = parser.parse_args()
    code = _dispatch(parser, args)
    if code == 0 and args.command in EXIT_WITHOUT_TEARDOWN:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:
            sys.exit(code)  # e.g. a closed pipe: let the interpreter report it as usual
        os._exit(code)
    sys.exit(code)


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
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
