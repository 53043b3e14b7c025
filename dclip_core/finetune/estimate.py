"""How long a fine-tune will take on this machine, from a short measured trial, not a guess.

The trial trains each stage for :data:`TRIAL_STEPS` optimiser steps in a scratch folder (removed
afterwards) with the run's own recipe, data and device, and times the steps after the first (which
pays for warm-up). The estimate is that step time multiplied by the steps the recipe will run,
counted the way the training loop counts them.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from dclip_core.train.batching import CaptionedRecord, micro_batches
from dclip_core.train.events import EventSink
from dclip_core.train.recipes import Recipe
from dclip_core.train.runs import split_train_val

TRIAL_STEPS = 3


@dataclass(frozen=True)
class Estimate:
    """Measured seconds per step and the steps each stage will run."""

    device: str
    teacher_steps: int
    student_steps: int
    teacher_s_per_step: float
    student_s_per_step: float

    @property
    def total_s(self) -> float:
        return (
            self.teacher_steps * self.teacher_s_per_step
            + self.student_steps * self.student_s_per_step
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "total_s": round(self.total_s, 1)}

    def sentence(self) -> str:
        minutes = self.total_s / 60
        span = f"{minutes:.0f} min" if minutes >= 2 else f"{self.total_s:.0f} s"
        return (
            f"about {span} on {self.device} (measured: teacher {self.teacher_steps} steps × "
            f"{self.teacher_s_per_step:.2f} s, student {self.student_steps} steps × "
            f"{self.student_s_per_step:.2f} s)"
        )


def describe_device(device: torch.device) -> str:
    """The machine in words: the CUDA GPU's name, or the CPU cores torch uses."""
    if device.type == "cuda":
        return f"CUDA GPU {torch.cuda.get_device_name(device)}"
    return f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def planned_steps(records: int, recipe: Recipe, stage: str, max_steps: int | None) -> int:
    """Optimiser steps a stage will run on ``records`` training photos (as the loop counts)."""
    section = recipe.teacher if stage == "teacher" else recipe.student
    inner, _ = split_train_val(list(range(records)), recipe.data.val_fraction, recipe.seed)
    batches = len(micro_batches(range(len(inner)), section.batch_size, 1))
    total = math.ceil(batches / section.grad_accum) * section.epochs
    return min(total, max_steps) if max_steps is not None else total


def seconds_per_step(events: Sequence[dict[str, Any]]) -> float:
    """Mean wall time of the steps after the first, from ``step`` events."""
    times = [float(e["time"]) for e in events if e.get("event") == "step"]
    if len(times) >= 2:
        return (times[-1] - times[0]) / (len(times) - 1)
    return 0.0


TrialStage = Callable[[Path, EventSink], Path | None]


def measure(
    records: Sequence[CaptionedRecord],
    recipe: Recipe,
    *,
    device: torch.device,
    scratch: Path,
    teacher_trial: TrialStage,
    student_trial: Callable[[Path, EventSink, Path], Path | None],
    teacher_max_steps: int | None,
    student_max_steps: int | None,
) -> Estimate:
    """Time :data:`TRIAL_STEPS` steps of each stage in ``scratch`` and scale to the full run.

    Args:
        teacher_trial: trains a teacher in the folder given with the sink given (the pipeline
            passes its own stage with ``max_steps`` set); returns the teacher file.
        student_trial: the same for the student, given the trial teacher.
    """
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        seen: list[dict[str, Any]] = []
        sink = EventSink("none", listeners=[seen.append])
        teacher = teacher_trial(scratch / "teacher", sink)
        teacher_rate = seconds_per_step(seen)
        seen.clear()
        student_rate = 0.0
        if teacher is not None:
            student_trial(scratch / "student", sink, teacher)
            student_rate = seconds_per_step(seen)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Estimate(
        device=describe_device(device),
        teacher_steps=planned_steps(len(records), recipe, "teacher", teacher_max_steps),
        student_steps=planned_steps(len(records), recipe, "student", student_max_steps),
        teacher_s_per_step=round(teacher_rate, 4),
        student_s_per_step=round(student_rate, 4),
    )
