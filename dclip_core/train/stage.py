"""One training stage from start to saved output: the driver the teacher, the student and
``dclip finetune`` share.

A stage is (1) a run folder started or resumed (:func:`~dclip_core.train.runs.start_or_resume`),
(2) a task built by the stage's own code, then here: (3) the recipe's train/validation split,
(4) the :class:`~dclip_core.train.loop.TrainingLoop` restored from the run's checkpoint, (5) run
until done or stopped, and (6) on rank 0, a finished run's output saved by the stage's ``save``
and announced with a ``done`` event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dclip_core.cancel import CancelToken
from dclip_core.train.batching import CaptionedRecord
from dclip_core.train.checkpoint import LoadedCheckpoint
from dclip_core.train.distributed import DistContext
from dclip_core.train.events import EventSink
from dclip_core.train.loop import LoopConfig, TrainingLoop, TrainingResult, TrainTask
from dclip_core.train.recipes import Recipe
from dclip_core.train.runs import split_train_val


@dataclass
class StageResult:
    """What a stage run produced."""

    status: str
    run_dir: Path
    output: Path | None
    history: list[dict[str, float]] = field(default_factory=list)
    val_history: list[dict[str, float]] = field(default_factory=list)
    last_checkpoint: Path | None = None
    stop_signal: str | None = None


def loop_config(recipe: Recipe, stage: str, max_steps: int | None) -> LoopConfig:
    """The loop values of one stage (``teacher`` or ``student``) of ``recipe``."""
    s = recipe.teacher if stage == "teacher" else recipe.student
    return LoopConfig(
        epochs=s.epochs,
        batch_size=s.batch_size,
        grad_accum=s.grad_accum,
        grad_clip=s.grad_clip,
        optimizer=s.optimizer,
        lr=s.lr,
        weight_decay=s.weight_decay,
        betas=getattr(s, "betas", (0.9, 0.999)),
        eps=getattr(s, "eps", 1e-8),
        schedule=s.schedule,
        warmup_steps=s.warmup_steps,
        seed=recipe.seed,
        precision=recipe.precision,
        checkpoint_every=recipe.checkpoint_every,
        keep_checkpoints=recipe.keep_checkpoints,
        max_steps=max_steps,
    )


def run_stage(
    stage: str,
    task: TrainTask,
    records: Sequence[CaptionedRecord],
    *,
    recipe: Recipe,
    run_dir: Path,
    checkpoint: LoadedCheckpoint | None,
    events: EventSink,
    ctx: DistContext,
    meta: dict[str, Any],
    save: Callable[[TrainingResult], Path],
    max_steps: int | None = None,
    cancel: CancelToken | None = None,
) -> StageResult:
    """Steps 3–6 of the module docstring for a task the stage has built.

    Args:
        stage: ``teacher`` or ``student`` (which recipe section, and the ``done`` event's stage).
        save: writes the finished stage's output (called on rank 0 only) and returns its path.
        meta: stored in every checkpoint beside the model weights.
    """
    train_set, val_set = split_train_val(records, recipe.data.val_fraction, recipe.seed)
    loop = TrainingLoop(
        task,
        train_set,
        val_set,
        loop_config(recipe, stage, max_steps),
        run_dir,
        events,
        ctx,
        meta=meta,
    )
    if checkpoint is not None:
        loop.restore(checkpoint)
    result = loop.run(cancel)
    output: Path | None = None
    if result.status == "done" and ctx.is_main:
        output = save(result)
        events.emit("done", stage=stage, output=str(output), steps=result.position.step)
    return StageResult(
        status=result.status,
        run_dir=run_dir,
        output=output,
        history=result.history,
        val_history=result.val_history,
        last_checkpoint=result.last_checkpoint,
        stop_signal=result.stop_signal,
    )
