"""What a fine-tune run looks like to the wizard, built from its events alone (Qt-free).

:class:`RunState` takes the ``dclip finetune --events jsonl`` events (docs/finetune.md, "Events")
one at a time with :meth:`RunState.apply`. Replaying a run's ``events.jsonl`` from the start gives
the same state as having watched it live, which is how a re-attached wizard shows a run it did not
start: every attempt's loss points, the stage reached, the evaluation and the verdict.

The Qt pages only read this object; nothing here knows about widgets or processes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dclip_app.finetune.stages import STAGES, stage_label

TRAINING_STAGES = ("teacher", "student")


class RunStatus(enum.Enum):
    """Where a run stands, as far as its events tell."""

    WAITING = "waiting"  # nothing heard yet
    RUNNING = "running"
    STOPPED = "stopped"  # checkpointed on Stop, Ctrl-C or SIGTERM: resumable
    INTERRUPTED = "interrupted"  # the process ended without a word (killed, crashed): resumable
    FAILED = "failed"  # an error event: the message says why
    FINISHED = "finished"


@dataclass(frozen=True)
class MetricRow:
    """One row of the before/after table (percent)."""

    metric: str
    label: str
    base: float
    student: float
    change_points: float


@dataclass
class RunState:
    """Everything the Train, Evaluate and Activate pages show about one run."""

    run_dir: Path | None = None
    status: RunStatus = RunStatus.WAITING
    stage: str | None = None
    finished_stages: list[str] = field(default_factory=list)
    base_model: str | None = None
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    samples_per_s: float | None = None
    eta_s: float | None = None
    estimate_text: str | None = None
    device: str | None = None
    regions: tuple[int, int] | None = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    losses: dict[str, dict[int, float]] = field(default_factory=dict)
    rows: list[MetricRow] = field(default_factory=list)
    held_out_photos: int | None = None
    verdict: str | None = None
    helped: bool | None = None
    bundle: Path | None = None
    error: str | None = None
    attempts: int = 0
    events_seen: int = 0

    # --- reading events ----------------------------------------------------------------------

    def apply(self, event: dict[str, Any]) -> None:
        """Update the state with one event (unknown events are counted and otherwise ignored)."""
        self.events_seen += 1
        name = str(event.get("event", ""))
        handler = _HANDLERS.get(name)
        if handler is not None:
            handler(self, event)

    def apply_all(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            self.apply(event)

    def process_ended(self, code: int | None) -> None:
        """The child process is gone (``code`` None: it was not ours, so its code is unknown).

        A run that neither finished, stopped nor failed in its events was killed or crashed: it
        is ``INTERRUPTED`` and a resume continues from the stage's last checkpoint.
        """
        if self.status in (RunStatus.WAITING, RunStatus.RUNNING):
            self.status = RunStatus.INTERRUPTED
            how = f"exit code {code}" if code is not None and code >= 0 else "killed"
            self.message = (
                f"the training process ended without finishing ({how}); Resume continues from "
                "its last checkpoint"
            )

    # --- what the pages show -----------------------------------------------------------------

    @property
    def resumable(self) -> bool:
        """A run folder exists and the run can continue (stopped or interrupted, not finished)."""
        return self.run_dir is not None and self.status in (
            RunStatus.STOPPED,
            RunStatus.INTERRUPTED,
            RunStatus.FAILED,
        )

    @property
    def stage_text(self) -> str:
        return stage_label(self.stage)

    def loss_points(self, stage: str) -> list[tuple[int, float]]:
        """``(step, loss)`` of a training stage, by step (a resumed step replaces the first)."""
        return sorted(self.losses.get(stage, {}).items())

    def point_count(self) -> int:
        return sum(len(points) for points in self.losses.values())

    def progress_text(self) -> str:
        """``step 5 of 9 · 12.7 samples/s · about 4 s left`` for the training stages."""
        if self.stage not in TRAINING_STAGES or not self.total_steps:
            return ""
        parts = [f"step {self.step} of {self.total_steps}"]
        if self.samples_per_s is not None:
            parts.append(f"{self.samples_per_s:.1f} samples/s")
        if self.eta_s is not None:
            parts.append(f"about {format_duration(self.eta_s)} left in this stage")
        return " · ".join(parts)

    def overall_fraction(self) -> float:
        """How far the whole run is, 0..1: finished stages, plus the current stage's steps."""
        done = len([s for s in self.finished_stages if s in STAGES])
        if self.status is RunStatus.FINISHED:
            return 1.0
        part = 0.0
        if self.stage in TRAINING_STAGES and self.total_steps:
            part = min(1.0, self.step / self.total_steps)
        return min(1.0, (done + part) / len(STAGES))


def format_duration(seconds: float) -> str:
    """``45 s``, ``3 min``, ``1 h 05 min``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


# --- one function per event ------------------------------------------------------------------


def _on_stage(state: RunState, event: dict[str, Any]) -> None:
    stage, status = str(event.get("stage")), event.get("status")
    state.stage = stage
    if status == "start":
        state.status = RunStatus.RUNNING
        state.step, state.total_steps = 0, 0
        state.samples_per_s = state.eta_s = None
        state.message = ""
    elif status == "done" and stage not in state.finished_stages:
        state.finished_stages.append(stage)
    elif status == "stopped":
        state.status = RunStatus.STOPPED
        state.message = f"stopped in {stage}: its last checkpoint is saved; Resume continues there"


def _on_run(state: RunState, event: dict[str, Any]) -> None:
    state.run_dir = Path(str(event["path"]))
    state.base_model = str(event.get("base_model") or "") or None
    state.status = RunStatus.RUNNING


def _on_resume(state: RunState, event: dict[str, Any]) -> None:
    state.run_dir = Path(str(event["path"]))
    state.attempts += 1
    state.status = RunStatus.RUNNING
    state.error = None
    for stage in event.get("finished") or []:
        if stage not in state.finished_stages:
            state.finished_stages.append(str(stage))
    state.message = f"resumed (attempt {state.attempts + 1})"


def _on_warning(state: RunState, event: dict[str, Any]) -> None:
    message = str(event.get("message", ""))
    if message and message not in state.warnings:
        state.warnings.append(message)


def _on_estimate(state: RunState, event: dict[str, Any]) -> None:
    state.estimate_text = str(event.get("text", ""))
    state.device = str(event.get("device", ""))


def _on_regions(state: RunState, event: dict[str, Any]) -> None:
    done, total = int(event.get("done", 0)), int(event.get("total", 0))
    state.regions = (done, total)
    state.message = f"preparing the photos' regions: {done} of {total}"


def _on_start(state: RunState, event: dict[str, Any]) -> None:
    state.status = RunStatus.RUNNING
    state.stage = str(event.get("stage"))
    state.step = int(event.get("step") or 0)
    state.total_steps = int(event.get("total_steps") or 0)
    resumed = event.get("resumed_from")
    state.message = f"continued from the checkpoint of step {state.step}" if resumed else ""


def _on_step(state: RunState, event: dict[str, Any]) -> None:
    stage = str(event.get("stage"))
    state.stage = stage
    state.status = RunStatus.RUNNING
    state.step = int(event.get("step") or 0)
    state.total_steps = int(event.get("total_steps") or state.total_steps)
    state.epoch = int(event.get("epoch") or 0)
    rate, eta = event.get("samples_per_s"), event.get("eta_s")
    state.samples_per_s = float(rate) if rate is not None else None
    state.eta_s = float(eta) if eta is not None else None
    loss = event.get("loss")
    if loss is not None:
        state.losses.setdefault(stage, {})[state.step] = float(loss)


def _on_stopped(state: RunState, event: dict[str, Any]) -> None:
    state.status = RunStatus.STOPPED
    state.message = (
        f"stopped at step {event.get('step', state.step)} of {event.get('stage')}: checkpoint "
        "saved; Resume continues there"
    )


def _on_evaluation(state: RunState, event: dict[str, Any]) -> None:
    state.rows = [
        MetricRow(
            metric=str(row["metric"]),
            label=str(row["label"]),
            base=float(row["base"]),
            student=float(row["student"]),
            change_points=float(row["change_points"]),
        )
        for row in event.get("rows") or []
    ]
    photos = event.get("photos")
    state.held_out_photos = int(photos) if photos is not None else None


def _on_verdict(state: RunState, event: dict[str, Any]) -> None:
    state.verdict = str(event.get("text", ""))
    state.helped = bool(event.get("helped"))


def _on_progress(state: RunState, event: dict[str, Any]) -> None:
    state.message = str(event.get("message", event.get("line", "")))


def _on_bundle(state: RunState, event: dict[str, Any]) -> None:
    state.bundle = Path(str(event["path"]))


def _on_finished(state: RunState, event: dict[str, Any]) -> None:
    state.status = RunStatus.FINISHED
    state.bundle = Path(str(event["bundle"])) if event.get("bundle") else state.bundle
    state.verdict = str(event.get("verdict") or state.verdict or "")
    if event.get("helped") is not None:
        state.helped = bool(event["helped"])
    if "export" not in state.finished_stages:
        state.finished_stages.append("export")
    state.message = "finished"


def _on_error(state: RunState, event: dict[str, Any]) -> None:
    state.status = RunStatus.FAILED
    state.error = str(event.get("message", "the fine-tune failed"))
    state.message = state.error


_HANDLERS = {
    "stage": _on_stage,
    "run": _on_run,
    "resume": _on_resume,
    "warning": _on_warning,
    "estimate": _on_estimate,
    "regions": _on_regions,
    "start": _on_start,
    "step": _on_step,
    "stopped": _on_stopped,
    "evaluation": _on_evaluation,
    "verdict": _on_verdict,
    "progress": _on_progress,
    "bundle": _on_bundle,
    "finished": _on_finished,
    "error": _on_error,
}
