"""Cold start of a text search, for ``dclip bench search``: where a fresh process spends its time.

Two measurements, both in fresh processes over the same library:

* **CLI**: ``dclip search "q" --json`` end to end (the cold-start target: 1.5 s over 10k photos);
* **breakdown**: the same steps the CLI takes, timed one by one in a small script, for the current
  configuration (dynamic-length text tower, optimised-model cache) and for the baseline (the
  fixed-length tower of earlier DCLIP versions, optimised from the bundle file every time). The
  script runs them one after another, so its steps add up to more than the CLI's wall time, where
  the text session opens while the tokenizer loads.

Runs alternate between the configurations so load changes on a shared machine hit them alike.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

QUERY = "a dog on a beach"

# Each step's end is a perf_counter reading; the script prints them as JSON.
_BREAKDOWN_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    bundle, cache_sessions = sys.argv[1], sys.argv[2] == "1"
    marks = [("start", time.perf_counter())]
    from dclip_core.cli import build_parser
    build_parser().parse_args(["search", sys.argv[3], "--json"])
    marks.append(("imports and CLI parser (the search command's only)", time.perf_counter()))
    from dclip_core.config import load_settings
    from dclip_core.library import Library, SearchQuery
    library = Library.open()
    model = library.search_model()
    marks.append(("library imports (numpy, hnswlib) and open", time.perf_counter()))
    from dclip_core.runtime.encoders import ClipEncoder
    marks.append(("runtime imports (onnxruntime, tokenizer)", time.perf_counter()))
    settings = load_settings()
    encoder = ClipEncoder.load(
        Path(bundle or model.bundle_path),
        provider=settings.execution_provider,
        threads=settings.threads,
        cache_sessions=cache_sessions,
    )
    marks.append(("bundle check (hash stamps)", time.perf_counter()))
    encoder.tokenizer
    marks.append(("tokenizer vocabulary", time.perf_counter()))
    encoder.embed_texts([sys.argv[3]])
    marks.append(("text session open + first query", time.perf_counter()))
    encoder.embed_texts([sys.argv[3] + " at noon"])
    marks.append(("one warm text query", time.perf_counter()))
    library.search(SearchQuery.from_strings([sys.argv[3]]), encoder=encoder)
    marks.append(("first search (ANN load, relevance, rows; one warm query)", time.perf_counter()))
    print(json.dumps(marks))
    """
)


def _fresh_process(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"cold-start run failed: {done.stderr.strip()[-2000:]}")
    return wall, done.stdout


def _breakdown(env: dict[str, str], bundle: str, cache_sessions: bool) -> dict[str, float]:
    wall, out = _fresh_process(
        ["-c", _BREAKDOWN_SCRIPT, bundle, "1" if cache_sessions else "0", QUERY], env
    )
    marks = json.loads(out)
    steps = {name: end - marks[i][1] for i, (name, end) in enumerate(marks[1:])}
    # What the script does not see: interpreter start, site imports, exit.
    steps["python start and exit"] = wall - (marks[-1][1] - marks[0][1])
    steps["total"] = wall
    return steps


def measure_cold_start(home: Path, runs: int, fixed_bundle: Path) -> dict[str, Any]:
    """Median cold-start times over ``runs`` fresh processes of each kind.

    Args:
        home: the ``DCLIP_HOME`` of a built benchmark library.
        runs: fresh processes per measurement.
        fixed_bundle: the baseline bundle (fixed-length text tower) of the same weights.

    Returns:
        ``cli_s`` (median), ``cli_runs_s``, and ``breakdown`` with the median seconds of each step
        for ``current`` and ``baseline``.
    """
    env = {**os.environ, "DCLIP_HOME": str(home)}
    # One untimed run of each: the first use builds the optimised-model cache, which is a
    # one-off cost per model and machine, not a cold start.
    _fresh_process(["-m", "dclip_core", "search", QUERY, "--json"], env)
    _breakdown(env, "", cache_sessions=True)
    cli: list[float] = []
    current: list[dict[str, float]] = []
    baseline: list[dict[str, float]] = []
    for _ in range(runs):
        wall, out = _fresh_process(["-m", "dclip_core", "search", QUERY, "--json"], env)
        if not json.loads(out)["results"]:
            raise RuntimeError("cold-start search returned no results")
        cli.append(wall)
        current.append(_breakdown(env, "", cache_sessions=True))
        baseline.append(_breakdown(env, str(fixed_bundle), cache_sessions=False))
    return {
        "cli_s": statistics.median(cli),
        "cli_runs_s": cli,
        "breakdown": {"current": _medians(current), "baseline": _medians(baseline)},
    }


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {step: statistics.median(run[step] for run in runs) for step in runs[0]}


def format_breakdown(cold: dict[str, Any]) -> list[str]:
    """Table lines: each step's median for the current configuration and the baseline."""
    current, baseline = cold["breakdown"]["current"], cold["breakdown"]["baseline"]
    lines = [f"{'step (median s)':<58} {'current':>8} {'baseline':>9}"]
    for step in current:
        lines.append(f"{step:<58} {current[step]:>8.3f} {baseline[step]:>9.3f}")
    return lines
