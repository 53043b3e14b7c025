"""The fine-tune pipeline: named stages run in order, each recorded in the run folder when done.

1. ``check`` and ``split`` (:func:`start_finetune`): the data check and the seeded train/held-out
   split, before any folder exists; refused data leaves nothing behind.
2. The run folder is created with both recorded (:mod:`dclip_core.finetune.run_folder`).
3. :func:`run_stages` runs the unfinished stages of :data:`STAGE_ORDER`: ``estimate`` (a measured
   trial), ``teacher`` and ``student`` (the method's two training stages, each resuming from its
   own last checkpoint), ``evaluate`` (base vs fine-tuned on the held-out photos, and the verdict)
   and ``export`` (the student bundle). A stage's result is recorded the moment it finishes; a
   resume (:func:`resume_finetune`) starts at the first unfinished one.

Every step speaks through one :class:`~dclip_core.train.events.EventSink` (the wizard's JSON
lines), and every event is also appended to ``<run>/events.jsonl``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dclip_core.cancel import CancelToken
from dclip_core.config.paths import atomic_write_text
from dclip_core.errors import TrainingError
from dclip_core.finetune.base_model import resolve_base_model
from dclip_core.finetune.data import parse_source
from dclip_core.finetune.datacheck import DataCheck, DataRefusedError, Split, check_data
from dclip_core.finetune.run_folder import (
    EVENTS_FILE,
    STAGES,
    FinetuneOptions,
    FinetuneRun,
    create_run,
    open_run,
)
from dclip_core.models.registry import get_model_spec
from dclip_core.train.checkpoint import latest_checkpoint
from dclip_core.train.distributed import DistContext, init_distributed
from dclip_core.train.events import EventSink

ESTIMATE_FILE = "estimate.json"


class StageStoppedError(Exception):
    """A training stage stopped on a signal or a cancel, checkpointed (not an error)."""

    def __init__(self, stage: str, signal: str | None) -> None:
        super().__init__(f"{stage} stopped ({signal or 'cancelled'})")
        self.stage = stage
        self.signal = signal


@dataclass(frozen=True)
class FinetuneResult:
    """How a pipeline call ended."""

    status: str  # "finished" or "stopped"
    run_dir: Path
    bundle: Path | None = None
    verdict: str | None = None
    helped: bool | None = None
    stop_signal: str | None = None


class _EventLog:
    """Appends every event to ``events.jsonl`` once the run folder exists; keeps them until."""

    def __init__(self) -> None:
        self.buffer: list[dict[str, Any]] = []
        self.path: Path | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        if self.path is None:
            self.buffer.append(event)
            return
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")


def start_finetune(
    options: FinetuneOptions, run_dir: Path, events: EventSink
) -> tuple[FinetuneRun, _EventLog]:
    """Check and split the data, then create the run folder (steps 1–2 of the module docstring).

    Raises:
        DatasetError: nothing trainable (one line saying why); nothing is written.
        TrainingError: ``run_dir`` exists.
        UnknownModelError: the base model cannot be found.
    """
    if run_dir.exists():
        raise TrainingError(
            f"{run_dir} already exists and runs are never overwritten; give another --out, or "
            f"continue it with --resume {run_dir}"
        )
    log = _EventLog()
    events.listeners.append(log)
    base_model = resolve_base_model(options.model)
    spec = get_model_spec(base_model)
    sources = [parse_source(s) for s in options.sources]
    events.emit("stage", stage="check", status="start", index=0, of=len(STAGES))
    try:
        check, split = check_data(
            sources,
            context_length=spec.context_length,
            held_out=options.held_out,
            seed=options.recipe.seed,
        )
    except DataRefusedError as exc:
        events.emit("datacheck", stage="check", **exc.check.event_fields(refused=str(exc)))
        raise
    events.emit("datacheck", stage="check", **check.event_fields())
    for warning in check.warnings:
        events.emit("warning", stage="check", message=warning)
    events.emit("stage", stage="check", status="done", index=0, of=len(STAGES))
    events.emit(
        "stage",
        stage="split",
        status="done",
        index=1,
        of=len(STAGES),
        train=len(split.train),
        held_out=len(split.held_out),
        seed=split.seed,
    )
    run = create_run(run_dir, options, base_model, check, split, events=log.buffer)
    log.path, log.buffer = run.path / EVENTS_FILE, []
    events.emit("run", stage="split", path=str(run.path), base_model=base_model)
    return run, log


def resume_finetune(run_dir: Path, events: EventSink) -> tuple[FinetuneRun, _EventLog]:
    """Open an unfinished run to continue it (its own options, model and split).

    Raises:
        TrainingError: not a run, or a finished one.
    """
    run = open_run(run_dir)
    resolve_base_model(run.options.model)  # registers run-time models (the demo's) again
    log = _EventLog()
    log.path = run.path / EVENTS_FILE
    events.listeners.append(log)
    events.emit("resume", stage="finetune", path=str(run.path), finished=run.finished_stages)
    return run, log


def run_stages(
    run: FinetuneRun,
    events: EventSink,
    *,
    device: str = "auto",
    cancel: CancelToken | None = None,
) -> FinetuneResult:
    """Run every unfinished stage in order (step 3 of the module docstring)."""
    stages = _Stages(run, events, init_distributed(device), cancel)
    table: dict[str, Callable[[], dict[str, Any]]] = {
        "estimate": stages.estimate,
        "teacher": stages.teacher,
        "student": stages.student,
        "evaluate": stages.evaluate,
        "export": stages.export,
    }
    for index, name in enumerate(STAGES):
        if name in run.finished_stages:
            continue
        events.emit("stage", stage=name, status="start", index=index, of=len(STAGES))
        try:
            result = table[name]()
        except StageStoppedError as stop:
            events.emit("stage", stage=name, status="stopped", index=index, of=len(STAGES))
            return FinetuneResult("stopped", run.path, stop_signal=stop.signal)
        run.record(name, result)
        events.emit("stage", stage=name, status="done", index=index, of=len(STAGES))
    verdict = run.result("evaluate")["verdict"]
    bundle = Path(run.result("export")["bundle"])
    events.emit(
        "finished",
        stage="finetune",
        run=str(run.path),
        bundle=str(bundle),
        verdict=verdict["text"],
        helped=verdict["helped"],
    )
    return FinetuneResult(
        "finished", run.path, bundle=bundle, verdict=verdict["text"], helped=verdict["helped"]
    )


def estimate_before_training(
    options: FinetuneOptions,
    base_model: str,
    check: DataCheck,
    split: Split,
    events: EventSink,
    *,
    device: str = "auto",
) -> dict[str, Any]:
    """The ``estimate`` stage for data that has only been checked (``--check-only --estimate``).

    It runs in a scratch run folder that is removed afterwards, so nothing of a run is left; the
    region cache it fills is the one a later run of the same photos reuses.

    Returns:
        The ``estimate`` event's fields.
    """
    import tempfile
    from dataclasses import replace

    with tempfile.TemporaryDirectory(prefix="dclip-estimate-") as scratch:
        asked = replace(options, estimate=True)  # asked for by name: --no-estimate does not apply
        run = create_run(Path(scratch) / "run", asked, base_model, check, split)
        return _Stages(run, events, init_distributed(device), None).estimate()


class _Stages:
    """The stages after the split, sharing the run's records, recipe, device and region cache."""

    def __init__(
        self, run: FinetuneRun, events: EventSink, ctx: DistContext, cancel: CancelToken | None
    ) -> None:
        self.run = run
        self.events = events
        self.ctx = ctx
        self.cancel = cancel
        self.options = run.options
        self.recipe = run.options.recipe
        self.model = run.base_model
        self.train, self.held_out = run.split()
        self._regions: Any = None

    def regions(self) -> Any:
        """The region cache of the base model, filled for the training photos (once)."""
        if self._regions is not None:
            return self._regions
        from dclip_core.train.regions import RegionCache

        data = self.recipe.data
        cache = RegionCache(
            self.model,
            "gt" if data.region_source == "gt" else data.detector,
            source=data.region_source,
            conf=data.detector_conf,
            max_regions=data.max_regions or 300,
            device=self.ctx.device,
        )
        stats = cache.prepare(
            self.train,
            progress=lambda done, total: self.events.emit(
                "regions", stage="prepare", done=done, total=total
            ),
        )
        if stats.failed:
            # Every photo opened in the data check; a failure here is the detector's or the disk's.
            paths = ", ".join(str(p) for p, _ in stats.failed[:3])
            raise TrainingError(
                f"regions could not be computed for {len(stats.failed)} training photos "
                f"({paths}); fix or remove them and start a new run"
            )
        self._regions = cache
        return cache

    def _summary(self) -> dict[str, Any]:
        return {"finetune_run": str(self.run.path), "sources": self.options.sources}

    def _teacher(
        self, run_dir: Path, events: EventSink, max_steps: int | None, resume: bool
    ) -> Any:
        from dclip_core.train.teacher_trainer import train_teacher

        return train_teacher(
            self.train,
            model=self.model,
            regions=self.regions(),
            run_dir=run_dir,
            recipe=self.recipe,
            events=events,
            ctx=self.ctx,
            resume=resume,
            max_steps=max_steps,
            cancel=self.cancel,
            data_summary=self._summary(),
        )

    def _student(
        self, run_dir: Path, events: EventSink, teacher: Path, max_steps: int | None, resume: bool
    ) -> Any:
        from dclip_core.train.distill import train_student

        return train_student(
            self.train,
            teacher_path=teacher,
            regions=self.regions(),
            run_dir=run_dir,
            model=self.model,
            recipe=self.recipe,
            events=events,
            ctx=self.ctx,
            resume=resume,
            max_steps=max_steps,
            cancel=self.cancel,
            data_summary=self._summary(),
        )

    def estimate(self) -> dict[str, Any]:
        from dclip_core.finetune.estimate import TRIAL_STEPS, measure

        if not self.options.estimate:
            return {"skipped": True}
        estimate = measure(
            self.train,
            self.recipe,
            device=self.ctx.device,
            scratch=self.run.path / ".estimate",
            teacher_trial=lambda folder, sink: (
                self._teacher(folder, sink, TRIAL_STEPS, False).output
            ),
            student_trial=lambda folder, sink, teacher: (
                self._student(folder, sink, teacher, TRIAL_STEPS, False).output
            ),
            teacher_max_steps=self.options.teacher_steps,
            student_max_steps=self.options.student_steps,
        )
        result = {**estimate.to_json(), "text": estimate.sentence()}
        atomic_write_text(self.run.path / ESTIMATE_FILE, json.dumps(result, indent=2))
        self.events.emit("estimate", stage="estimate", **result)
        return result

    def teacher(self) -> dict[str, Any]:
        run_dir = self.run.path / "teacher"
        result = self._teacher(
            run_dir, self.events, self.options.teacher_steps, latest_checkpoint(run_dir) is not None
        )
        if result.status != "done" or result.output is None:
            raise StageStoppedError("teacher", result.stop_signal)
        return {"teacher": str(result.output), "val_history": result.val_history}

    def student(self) -> dict[str, Any]:
        run_dir = self.run.path / "student"
        teacher = Path(self.run.result("teacher")["teacher"])
        result = self._student(
            run_dir,
            self.events,
            teacher,
            self.options.student_steps,
            latest_checkpoint(run_dir) is not None,
        )
        if result.status != "done" or result.output is None:
            raise StageStoppedError("student", result.stop_signal)
        return {"student": str(result.output), "val_history": result.val_history}

    def evaluate(self) -> dict[str, Any]:
        from dclip_core.finetune.report import evaluate_run

        return evaluate_run(self.run, self.held_out, self.events, str(self.ctx.device))

    def export(self) -> dict[str, Any]:
        from dclip_core.finetune.report import export_run

        bundle = export_run(self.run, self.events)
        self.events.emit("bundle", stage="export", path=str(bundle))
        return {"bundle": str(bundle)}
