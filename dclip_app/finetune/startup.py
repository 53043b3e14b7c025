"""At app start: offer to show (re-attach to) or resume a fine-tune that has not finished.

The main window calls :func:`offer_unfinished_run` once it is shown. It looks for runs with
:func:`~dclip_app.finetune.runs.find_unfinished_runs` (Qt-free, cheap: a few small json reads),
asks about the newest one, and opens a :class:`~dclip_app.finetune.wizard.FinetuneWizard` on it:
following the process that still trains it, or resuming it from its last checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from dclip_app.finetune.runs import UnfinishedRun, find_unfinished_runs
from dclip_app.finetune.wizard import FinetuneWizard
from dclip_core.config import Settings

SHOW, RESUME, LATER = "show", "resume", "later"

Ask = Callable[[QWidget | None, UnfinishedRun], str]


def ask_about_run(parent: QWidget | None, run: UnfinishedRun) -> str:
    """The question: show the run (and follow it), resume it, or not now."""
    box = QMessageBox(parent)
    box.setWindowTitle("Fine-tune not finished")
    if run.running:
        box.setText("A fine-tune is still training.")
    else:
        box.setText(f"A fine-tune stopped before its {run.next_stage} stage.")
    box.setInformativeText(run.describe())
    show = box.addButton("Show it", QMessageBox.ButtonRole.AcceptRole)
    resume = None
    if not run.running:
        resume = box.addButton("Resume", QMessageBox.ButtonRole.ActionRole)
    box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(resume if resume is not None else show)
    box.exec()
    clicked = box.clickedButton()
    return SHOW if clicked is show else RESUME if clicked is resume else LATER


def offer_unfinished_run(
    parent: QWidget | None,
    settings: Settings | None = None,
    library_folders: Sequence[Path] = (),
    *,
    runs: Sequence[UnfinishedRun] | None = None,
    ask: Ask | None = None,
) -> FinetuneWizard | None:
    """Ask about the newest unfinished run and open the wizard on it (shown), or return None.

    Args:
        parent: the main window.
        settings, library_folders: as for :class:`FinetuneWizard`.
        runs: the runs to consider (default: :func:`find_unfinished_runs`).
        ask: the question (default :func:`ask_about_run`; tests answer it).
    """
    runs = find_unfinished_runs() if runs is None else runs
    if not runs:
        return None
    run = runs[0]
    answer = (ask or ask_about_run)(parent, run)
    if answer == LATER:
        return None
    wizard = FinetuneWizard.for_run(run, settings, library_folders, parent)
    wizard.show()
    if answer == RESUME and not run.running:
        wizard.train_page.resume()
    return wizard
