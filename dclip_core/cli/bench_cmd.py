"""``dclip bench NAME``: run one of the registered benchmarks."""

from __future__ import annotations

import argparse
import importlib

from dclip_core.bench import BENCHMARK_MODULES, BENCHMARKS
from dclip_core.cli import command


@command("bench", "measure speed and quality against a baseline in the same run")
def configure(parser: argparse.ArgumentParser) -> None:
    for module in BENCHMARK_MODULES:
        importlib.import_module(module)
    sub = parser.add_subparsers(dest="bench_name", metavar="BENCHMARK", required=True)
    for bench in BENCHMARKS.values():
        p = sub.add_parser(bench.name, help=bench.help, description=bench.help)
        bench.configure(p)
        p.set_defaults(handler=bench.run)
