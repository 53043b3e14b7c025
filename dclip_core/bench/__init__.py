"""``dclip bench``: benchmarks users can run, each against a baseline measured in the same run.

A benchmark is a module of this package that registers itself with :func:`benchmark`; the CLI
imports the modules named in :data:`BENCHMARK_MODULES`. Each prints a table (or JSON with
``--json``) of medians over repeats, never a single timing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

Configure = Callable[[argparse.ArgumentParser], None]
Runner = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Benchmark:
    name: str
    help: str
    configure: Configure
    run: Runner


BENCHMARKS: dict[str, Benchmark] = {}

# Modules whose import registers benchmarks.
BENCHMARK_MODULES: tuple[str, ...] = (
    "dclip_core.bench.encode",
    "dclip_core.bench.index",
    "dclip_core.bench.quantised",
    "dclip_core.bench.search",
    "dclip_core.bench.train",
    "dclip_core.bench.shapes",
    "dclip_core.bench.regions",
    "dclip_core.bench.cutoff",
    "dclip_core.bench.explain",
)


def benchmark(name: str, help: str, configure: Configure) -> Callable[[Runner], Runner]:
    """Register ``run(args) -> exit code`` as ``dclip bench NAME``; ``configure`` adds its flags."""

    def decorate(run: Runner) -> Runner:
        BENCHMARKS[name] = Benchmark(name=name, help=help, configure=configure, run=run)
        return run

    return decorate


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
