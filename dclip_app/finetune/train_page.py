"""Page 4, Train: the run's stage, step, speed, time left and loss; Stop and Resume.

The page starts (or re-attaches to) the training process through
:class:`~dclip_app.finetune.process.TrainingProcess` and shows the
:class:`~dclip_app.finetune.run_state.RunState` its events build. Stop sends SIGINT (the stage
checkpoints and the process exits 130); Resume runs ``dclip finetune --resume RUN``, which
continues from the stage's last checkpoint; both work on a run re-attached after a restart.
Next is enabled once the run finished.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from dclip_app.finetune.charts import LossChart
from dclip_app.finetune.commands import resume_command, train_command
from dclip_app.finetune.context import WizardContext
from dclip_app.finetune.events_file import EVENTS_FILE, EventTail
from dclip_app.finetune.process import TrainingProcess
from dclip_app.finetune.run_state import TRAINING_STAGES, RunState, RunStatus
from dclip_app.finetune.runs import new_run_dir
from dclip_app.finetune.stages import STAGES


class TrainPage(QWizardPage):
    """Follows one run: starts it, re-attaches to it, stops and resumes it."""

    run_changed = Signal()  # the state changed (the wizard's later pages read it)

    def __init__(
        self, context: WizardContext, process: TrainingProcess, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.process = process
        self.setTitle("Training")
        self.setSubTitle(
            "You can close this window: training goes on, and DCLIP offers to show it again "
            "when it starts."
        )
        self.stage = QLabel()
        self.stage.setObjectName("heading")
        self.overall = QProgressBar()
        self.overall.setRange(0, 1000)
        self.stages = QLabel()
        self.stages.setWordWrap(True)
        self.progress = QLabel()
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)
        self.estimate.setObjectName("hint")
        self.chart = LossChart(TRAINING_STAGES)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Save a checkpoint and stop; Resume continues from it")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the run from its last checkpoint")
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume)
        buttons = QHBoxLayout()
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.resume_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        for widget in (self.stage, self.overall, self.stages, self.progress, self.estimate):
            layout.addWidget(widget)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        process.events.connect(self._events)
        process.ended.connect(self._ended)
        self.refresh()

    @property
    def state(self) -> RunState:
        return self.context.state

    # --- starting, following, stopping ------------------------------------------------------

    def initializePage(self) -> None:  # noqa: N802 - Qt's name
        if self.state.run_dir is None and not self.process.running:
            self.start_new_run()

    def start_new_run(self, run_dir: Path | None = None) -> Path:
        """Start ``dclip finetune`` on the wizard's data and recipe into a new run folder."""
        run_dir = run_dir or new_run_dir()
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        self.context.state = RunState(run_dir=run_dir, status=RunStatus.RUNNING)
        command = train_command(
            self.context.sources(),
            self.context.model,
            run_dir,
            self.context.recipe,
            self.context.extra_args,
        )
        self.process.start(command, run_dir)
        self.refresh()
        return run_dir

    def resume(self) -> None:
        """``dclip finetune --resume RUN``: the run goes on from its last checkpoint."""
        run_dir = self.state.run_dir
        if run_dir is None or self.process.running:
            return
        self.context.state = RunState(run_dir=run_dir, status=RunStatus.RUNNING)
        self.process.start(resume_command(run_dir), run_dir)
        self.refresh()

    def attach(self, run_dir: Path, pid: int | None) -> None:
        """Show an existing run: follow its process when ``pid`` runs, else replay its events."""
        self.context.state = RunState(run_dir=run_dir)
        if pid is not None:
            self.process.attach(run_dir, pid)
        else:
            self.state.apply_all(EventTail(run_dir / EVENTS_FILE).read())
            self.state.run_dir = run_dir
            self.state.process_ended(None)
        self.refresh()

    def stop(self) -> None:
        if self.process.running:
            self.process.stop()
            self.message.setText("Stopping: saving a checkpoint…")
            self.stop_button.setEnabled(False)

    def _events(self, events: list[dict[str, Any]]) -> None:
        self.state.apply_all(events)
        self.refresh()

    def _ended(self, code: int | None) -> None:
        self.state.process_ended(code)
        if self.state.status is RunStatus.INTERRUPTED and code not in (None, -9):
            failure = self.process.failure()
            if failure and code not in (130, 143):
                self.state.status = RunStatus.FAILED
                self.state.error = failure
                self.state.message = failure
        self.refresh()

    # --- showing -------------------------------------------------------------------------------

    def refresh(self) -> None:
        state = self.state
        running = self.process.running
        self.stage.setText(_headline(state, running))
        self.overall.setValue(int(state.overall_fraction() * 1000))
        self.stages.setText(_stage_list(state))
        self.progress.setText(state.progress_text() if running else "")
        estimate = state.estimate_text or "the time estimate is measured after the data is split"
        self.estimate.setText(f"Estimate: {estimate}")
        for stage in TRAINING_STAGES:
            self.chart.set_points(stage, state.loss_points(stage))
        self.message.setText(state.error or state.message)
        self.stop_button.setEnabled(running)
        self.resume_button.setEnabled(not running and state.resumable)
        self.resume_button.setVisible(not running and state.status is not RunStatus.FINISHED)
        self.completeChanged.emit()
        self.run_changed.emit()

    def isComplete(self) -> bool:  # noqa: N802 - Qt's name
        return self.state.status is RunStatus.FINISHED and not self.process.running


def _headline(state: RunState, running: bool) -> str:
    if state.status is RunStatus.FINISHED:
        return "Finished: see how it did on the next page"
    if state.status is RunStatus.FAILED:
        return "The fine-tune failed"
    if state.status is RunStatus.STOPPED and not running:
        return "Stopped: Resume continues from the last checkpoint"
    if state.status is RunStatus.INTERRUPTED:
        return "Interrupted: Resume continues from the last checkpoint"
    return state.stage_text


def _stage_list(state: RunState) -> str:
    parts = []
    for stage in STAGES:
        if stage in state.finished_stages:
            mark = "✓"
        elif stage == state.stage and state.status is RunStatus.RUNNING:
            mark = "▶"
        else:
            mark = "·"
        parts.append(f"{mark} {stage}")
    return "   ".join(parts)
