"""What the wizard's pages share: the choices made so far and the run's state (Qt-free)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dclip_app.finetune.check_report import CheckReport
from dclip_app.finetune.data_sources import DataChoice
from dclip_app.finetune.recipes import RecipeChoice
from dclip_app.finetune.run_state import RunState


@dataclass
class WizardContext:
    """The wizard's state, page by page.

    Attributes:
        model: the model to fine-tune (``--model``; None: the library's, as ``dclip`` decides).
        library_folders: the library's photo folders (the Data page offers them).
        extra_args: arguments added to every ``dclip finetune`` line (tests, screenshots: a tiny
            recipe).
        data: the Data page's choice.
        check: the Check page's report (for ``checked_spec``).
        recipe: the Recipe page's choice.
        state: the run, as its events tell it.
    """

    model: str | None = None
    library_folders: list[Path] = field(default_factory=list)
    extra_args: list[str] = field(default_factory=list)
    data: DataChoice | None = None
    check: CheckReport | None = None
    checked_spec: str | None = None
    recipe: RecipeChoice = field(default_factory=RecipeChoice)
    state: RunState = field(default_factory=RunState)

    def sources(self) -> list[str]:
        return [self.data.spec()] if self.data is not None else []
