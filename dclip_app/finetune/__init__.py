"""The fine-tune wizard: ``dclip finetune`` in the app (docs/finetune.md, "In the app").

Qt-free: :mod:`run_state` (a run as its events tell it), :mod:`runs` (unfinished runs on disk),
:mod:`check_report`, :mod:`data_sources`, :mod:`recipes`, :mod:`commands`, :mod:`events_file`.
Qt: the six pages, :mod:`process` (the detached training child), :mod:`charts`, :mod:`wizard`,
:mod:`startup` and :mod:`model_switch`. Entry points for the main window are re-exported here.
"""

from __future__ import annotations

from dclip_app.finetune.model_switch import rollback_model
from dclip_app.finetune.runs import UnfinishedRun, find_unfinished_runs
from dclip_app.finetune.startup import offer_unfinished_run
from dclip_app.finetune.wizard import FinetuneWizard

__all__ = [
    "FinetuneWizard",
    "UnfinishedRun",
    "find_unfinished_runs",
    "offer_unfinished_run",
    "rollback_model",
]
