"""The fine-tune's stages as the wizard names them (Qt-free).

The same names, in the same order, as ``dclip_core.finetune.run_folder.STAGES``; that module
imports the training package, which the app never imports, so they are repeated here and a test
keeps the two equal.
"""

from __future__ import annotations

STAGES = ("check", "split", "estimate", "teacher", "student", "evaluate", "export")
"""Every stage of a run, in order; a run is finished when ``export`` is recorded."""

STAGE_LABELS = {
    "check": "Checking the data",
    "split": "Splitting train and held-out photos",
    "estimate": "Measuring how long it will take",
    "teacher": "Training the teacher",
    "student": "Distilling the student",
    "evaluate": "Comparing base and fine-tuned",
    "export": "Exporting the new model",
}


def stage_label(stage: str | None) -> str:
    """``Training the teacher (4 of 7)`` for a stage name; ``Starting…`` before the first."""
    if stage is None or stage not in STAGES:
        return "Starting…"
    return f"{STAGE_LABELS[stage]} ({STAGES.index(stage) + 1} of {len(STAGES)})"


def next_stage(finished: list[str]) -> str | None:
    """The first stage not in ``finished`` (None when the run is complete)."""
    return next((s for s in STAGES if s not in finished), None)
