"""The fine-tune wizard: Data → Check → Recipe → Train → Evaluate → Activate.

A thin Qt view over ``dclip finetune`` (docs/finetune.md, "In the app"; docs/adr/0023):

1. Data and Check choose the photos and run ``dclip finetune --check-only`` on them;
2. Recipe (the commit page) starts ``dclip finetune --events jsonl --out RUN`` as a detached
   child; the Train page follows the run's ``events.jsonl``;
3. Evaluate shows the before/after table and the verdict; Activate switches the library with
   ``dclip models activate`` and can roll it back, emitting :attr:`FinetuneWizard.model_activated`
   and :attr:`FinetuneWizard.model_rolled_back` for the main window to reload its model.

Closing the wizard while training asks whether to keep it training in the background (the
default) or stop it; either way the run stays resumable, and :func:`FinetuneWizard.for_run` opens
a wizard on it again (the app's startup check, :mod:`dclip_app.finetune.startup`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import QMessageBox, QWidget, QWizard

from dclip_app.finetune.activate_page import ActivatePage
from dclip_app.finetune.check_page import CheckPage
from dclip_app.finetune.context import WizardContext
from dclip_app.finetune.data_page import DataPage
from dclip_app.finetune.evaluate_page import EvaluatePage
from dclip_app.finetune.process import TrainingProcess
from dclip_app.finetune.recipe_page import RecipePage
from dclip_app.finetune.run_state import RunStatus
from dclip_app.finetune.runs import UnfinishedRun, running_pid
from dclip_app.finetune.train_page import TrainPage
from dclip_app.workers import WorkerPool
from dclip_core.config import Settings

DATA_PAGE, CHECK_PAGE, RECIPE_PAGE, TRAIN_PAGE, EVALUATE_PAGE, ACTIVATE_PAGE = range(6)

KEEP, STOP, STAY = "keep", "stop", "stay"


class FinetuneWizard(QWizard):
    """Fine-tune the library's model on captioned photos, see whether it helped, switch to it.

    Args:
        settings: the app's settings (``settings.model`` is the model fine-tuned).
        library_folders: the library's photo folders (offered for "annotations in my library").
        parent: the main window.
        model: fine-tune this model instead of ``settings.model``.
        extra_args: added to every ``dclip finetune`` line (tests and screenshots: a tiny recipe).
    """

    model_activated = Signal(object)  # Path: the new bundle; reload the search model
    model_rolled_back = Signal(object)  # Path | None: the bundle active again; reload too

    def __init__(
        self,
        settings: Settings | None = None,
        library_folders: Sequence[Path] = (),
        parent: QWidget | None = None,
        *,
        model: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune on your photos")
        self.setObjectName("finetune-wizard")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.context = WizardContext(
            model=model or (settings.model if settings is not None else None),
            library_folders=list(library_folders),
            extra_args=list(extra_args),
        )
        self.pool = WorkerPool(max_threads=2, parent=self)
        self.process = TrainingProcess(parent=self)
        self.data_page = DataPage(self.context)
        self.check_page = CheckPage(self.context, self.pool)
        self.recipe_page = RecipePage(self.context)
        self.train_page = TrainPage(self.context, self.process)
        self.evaluate_page = EvaluatePage(self.context)
        self.activate_page = ActivatePage(self.context, self.pool)
        pages = (
            self.data_page,
            self.check_page,
            self.recipe_page,
            self.train_page,
            self.evaluate_page,
            self.activate_page,
        )
        for page_id, page in enumerate(pages):
            self.setPage(page_id, page)
        self.activate_page.model_activated.connect(self.model_activated)
        self.activate_page.model_rolled_back.connect(self.model_rolled_back)
        self.leave_running: Callable[[], str] = self._ask_leave_running

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(820, 640)

    @classmethod
    def for_run(
        cls,
        run: UnfinishedRun | Path,
        settings: Settings | None = None,
        library_folders: Sequence[Path] = (),
        parent: QWidget | None = None,
    ) -> FinetuneWizard:
        """A wizard opened on an existing run's Train page: following its process when it still
        runs (re-attach), else showing where it stopped with Resume enabled."""
        wizard = cls(settings, library_folders, parent)
        path = run.path if isinstance(run, UnfinishedRun) else run
        pid = run.pid if isinstance(run, UnfinishedRun) else running_pid(path)
        wizard.open_run(path, pid)
        return wizard

    def open_run(self, run_dir: Path, pid: int | None) -> None:
        """Start the wizard at the Train page on ``run_dir`` (call before showing it)."""
        self.train_page.attach(run_dir, pid)
        self.setStartId(TRAIN_PAGE)

    # --- closing -------------------------------------------------------------------------------

    def reject(self) -> None:
        """Cancel / close: training may go on in the background; a model switch must finish."""
        if self.activate_page.busy_with:
            self.activate_page.status.setText(
                "Wait for the model switch to finish before closing (the library is being "
                "embedded with it)."
            )
            return
        # A finished run's process is only exiting: nothing to ask.
        if self.process.running and self.context.state.status is not RunStatus.FINISHED:
            choice = self.leave_running()
            if choice == STAY:
                return
            if choice == STOP:
                self.process.stop()  # the child checkpoints and exits on its own
        self.process.detach()
        self.pool.cancel_all()
        super().reject()

    def _ask_leave_running(self) -> str:
        box = QMessageBox(self)
        box.setWindowTitle("Training is running")
        box.setText("Training is still running. Keep it training in the background?")
        box.setInformativeText(
            "DCLIP shows it again the next time it starts. Stop saves a checkpoint that Resume "
            "continues from."
        )
        keep = box.addButton("Keep training", QMessageBox.ButtonRole.AcceptRole)
        stop = box.addButton("Stop training", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Don't close", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        clicked = box.clickedButton()
        return KEEP if clicked is keep else STOP if clicked is stop else STAY
