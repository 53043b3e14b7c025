"""A training run's folder: what it trains, with which recipe, and how to resume it.

``<run>/run.json`` is written when a run starts and read by ``--resume``, so a resumed run uses
exactly the recipe, model and data split it started with, whatever flags are given the second time.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from dclip_core import __version__
from dclip_core.config.paths import atomic_write_text
from dclip_core.errors import TrainingError
from dclip_core.train.checkpoint import LoadedCheckpoint, latest_checkpoint, load_checkpoint
from dclip_core.train.recipes import Recipe

RUN_FILE = "run.json"
T = TypeVar("T")


def split_train_val(
    records: Sequence[T], val_fraction: float, seed: int
) -> tuple[list[T], list[T]]:
    """Shuffle with ``seed`` and hold ``val_fraction`` out for validation (the paper's 90/10).

    A dataset too small to spare a validation image (fewer than 10) trains on everything.
    """
    n_val = round(len(records) * val_fraction)
    if len(records) < 10 or n_val == 0:
        return list(records), []
    order = np.random.default_rng(seed).permutation(len(records))
    return [records[i] for i in order[n_val:]], [records[i] for i in order[:n_val]]


@dataclass
class RunInfo:
    """The contents of ``run.json``."""

    stage: str
    model: str
    recipe: Recipe
    data: dict[str, Any]
    extra: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "model": self.model,
            "recipe": self.recipe.to_json(),
            "data": self.data,
            "extra": self.extra,
            "dclip_version": __version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }


def write_run_info(run_dir: Path, info: RunInfo) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / RUN_FILE, json.dumps(info.to_json(), indent=2))


def read_run_info(run_dir: Path, stage: str) -> RunInfo:
    """Read a run folder to resume it.

    Raises:
        TrainingError: not a run folder, or a run of the other stage.
    """
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise TrainingError(f"{run_dir} is not a training run folder ({RUN_FILE} is missing)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TrainingError(f"{path} is damaged: {exc}") from exc
    if data.get("stage") != stage:
        raise TrainingError(
            f"{run_dir} is a {data.get('stage')!r} run; resume it with the matching command"
        )
    return RunInfo(
        stage=stage,
        model=str(data["model"]),
        recipe=Recipe.from_json(data["recipe"]),
        data=dict(data.get("data", {})),
        extra=dict(data.get("extra", {})),
    )


def resume_checkpoint(run_dir: Path) -> LoadedCheckpoint:
    """The latest checkpoint of a run.

    Raises:
        TrainingError: the run has no checkpoint yet.
    """
    path = latest_checkpoint(run_dir)
    if path is None:
        raise TrainingError(
            f"run {run_dir} has no checkpoint to resume from; start it again without --resume"
        )
    return load_checkpoint(path)


@dataclass(frozen=True)
class RunStart:
    """What a stage runs with: the recipe and base model (from ``run.json`` when resuming) and the
    checkpoint to continue from (None for a new run)."""

    recipe: Recipe
    model: str
    checkpoint: LoadedCheckpoint | None


def start_or_resume(
    run_dir: Path,
    stage: str,
    *,
    num_records: int,
    resume: bool,
    recipe: Recipe,
    model: str,
    is_main: bool,
    data_summary: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> RunStart:
    """Begin a training stage: record a new run, or reload a run's recipe, model and checkpoint.

    Raises:
        TrainingError: resuming a run whose dataset size changed, or one with no checkpoint.
    """
    if resume:
        info = read_run_info(run_dir, stage)
        if info.data.get("records") not in (None, num_records):
            raise TrainingError(
                f"the dataset changed since run {run_dir} started ({info.data['records']} images "
                f"then, {num_records} now); resume with the same data or start a new run"
            )
        return RunStart(info.recipe, info.model, resume_checkpoint(run_dir))
    if is_main:
        write_run_info(
            run_dir,
            RunInfo(
                stage=stage,
                model=model,
                recipe=recipe,
                data={"records": num_records, **(data_summary or {})},
                extra=extra or {},
            ),
        )
    return RunStart(recipe, model, None)
