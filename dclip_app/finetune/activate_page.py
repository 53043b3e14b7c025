"""Page 6, Activate: search the library with the fine-tuned model, and roll back in one click.

"Use the fine-tuned model" runs ``dclip models activate <run>/bundle``: the library's photos are
embedded with it while searches keep using the current model (a bar counts them; Stop ends it
after the batch in flight, and the next try continues), then it becomes active and the replaced
one is remembered. "Roll back" runs ``dclip models rollback``. The page
says what changed and emits :attr:`ActivatePage.model_activated` /
:attr:`ActivatePage.model_rolled_back` with the bundle now active, for the main window to reload.
"""

from __future__ import annotations

from pathlib import Path

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

from dclip_app.finetune.commands import ModelSwitchResult, SwitchProgress
from dclip_app.finetune.context import WizardContext
from dclip_app.finetune.data_sources import display_path
from dclip_app.finetune.model_switch import activate_task, rollback_task
from dclip_app.workers import Worker, WorkerPool


class ActivatePage(QWizardPage):
    """Switch the library to the new bundle, or back."""

    model_activated = Signal(object)  # Path: the bundle the library searches with now
    model_rolled_back = Signal(object)  # Path | None: the bundle active after the rollback

    def __init__(
        self, context: WizardContext, pool: WorkerPool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.pool = pool
        self.result: ModelSwitchResult | None = None
        self.activated = False  # the new bundle is the one searches use now
        self.busy_with: str | None = None
        self.worker: Worker | None = None
        self.setTitle("Use the fine-tuned model")
        self.setSubTitle(
            "Your photos are embedded with the new model while search keeps working with the "
            "current one; the current model is kept for Roll back."
        )
        self.advice = QLabel()
        self.advice.setWordWrap(True)
        self.bundle = QLabel()
        self.bundle.setObjectName("hint")
        self.bundle.setWordWrap(True)
        self.activate_button = QPushButton("Use the fine-tuned model")
        self.rollback_button = QPushButton("Roll back to the previous model")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.hide()
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip(
            "Stop embedding after the photos in flight; searches keep the current model, and "
            "Use the fine-tuned model continues from there"
        )
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.activate_button.clicked.connect(self.activate)
        self.rollback_button.clicked.connect(self.rollback)
        buttons = QHBoxLayout()
        buttons.addWidget(self.activate_button)
        buttons.addWidget(self.rollback_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.advice)
        layout.addWidget(self.bundle)
        layout.addLayout(buttons)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.busy, 1)
        progress_row.addWidget(self.stop_button)
        layout.addLayout(progress_row)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802 - Qt's name
        state = self.context.state
        if state.helped:
            advice = "It helped on your held-out photos: use it."
        else:
            advice = (
                "The verdict is to keep the current model; you can still try the new one and "
                "roll back."
            )
        verdict = f"<br><i>Verdict: {state.verdict}</i>" if state.verdict else ""
        self.advice.setText(advice + verdict)
        bundle = self.bundle_path()
        self.bundle.setText(
            f"New model: {display_path(bundle)}" if bundle else "No bundle was exported."
        )
        self._update_buttons()

    def bundle_path(self) -> Path | None:
        state = self.context.state
        if state.bundle is not None:
            return state.bundle
        if state.run_dir is not None and (state.run_dir / "bundle").is_dir():
            return state.run_dir / "bundle"
        return None

    def activate(self) -> None:
        bundle = self.bundle_path()
        if bundle is None or self.busy_with:
            return
        self._run(activate_task(bundle), "activate")

    def rollback(self) -> None:
        if not self.busy_with:
            self._run(rollback_task(), "rollback")

    def stop(self) -> None:
        if self.worker is not None and self.busy_with:
            self.worker.cancel()
            self.stop_button.setEnabled(False)
            self.status.setText("Stopping after the photos in flight…")

    def _run(self, task: object, what: str) -> None:
        self.busy_with = what
        self.status.setText(
            "Embedding your photos with the new model (search keeps working)…"
            if what == "activate"
            else "Going back to the previous model…"
        )
        self.busy.setRange(0, 0)
        self.busy.show()
        self.stop_button.setEnabled(True)
        self.stop_button.show()
        self._update_buttons()
        self.worker = self.pool.start(
            task,  # type: ignore[arg-type]
            f"model {what}",
            on_result=lambda result: self._switched(what, result),
            on_error=self._failed,
            on_progress=lambda progress: self._progress(what, progress),
            on_cancelled=self._stopped,
            on_finished=self._finished,
        )

    def _progress(self, what: str, progress: SwitchProgress) -> None:
        if progress.total <= 0:
            return
        self.busy.setRange(0, progress.total)
        self.busy.setValue(progress.done)
        model = "the new model" if what == "activate" else "the previous model"
        self.status.setText(
            f"Embedding your photos with {model} (search keeps working): {progress.sentence()}"
        )

    def _stopped(self) -> None:
        self.status.setText(
            "Stopped: searches still use the current model. Use the fine-tuned model again to "
            "continue where it stopped."
            if self.busy_with == "activate"
            else "Stopped: searches still use the current model."
        )

    def _switched(self, what: str, result: ModelSwitchResult) -> None:
        self.result = result
        verb = "Searching with" if what == "activate" else "Back to"
        self.status.setText(result.sentence(verb))
        if result.switched and what == "activate" and result.active_bundle is not None:
            self.activated = True
            self.model_activated.emit(result.active_bundle)
        elif result.switched and what == "rollback":
            self.activated = not self.activated  # a second rollback goes forward again
            self.model_rolled_back.emit(result.active_bundle)

    def _failed(self, error: BaseException) -> None:
        self.status.setText(f"<span style='color:#b00020'>{error}</span>")

    def _finished(self) -> None:
        self.busy_with = None
        self.worker = None
        self.busy.hide()
        self.stop_button.hide()
        self._update_buttons()
        self.completeChanged.emit()

    def _update_buttons(self) -> None:
        idle = self.busy_with is None
        self.activate_button.setEnabled(
            idle and not self.activated and self.bundle_path() is not None
        )
        self.rollback_button.setEnabled(idle and self.result is not None)

    def isComplete(self) -> bool:  # noqa: N802 - Qt's name
        return self.busy_with is None
