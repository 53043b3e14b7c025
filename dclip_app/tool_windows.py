"""The main window's own windows: *Why this match?*, *Annotate photos* and the fine-tune wizard,
and what opens them; switching the library's model from the wizard or the Model menu.

Each is made on first use, shown again (raised) when asked for later, follows the main window's
settings and model, and is closed with it. Keeping them here keeps
:mod:`dclip_app.main_window` about searching.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from dclip_app.annotate.window import AnnotateWindow
    from dclip_app.explain_window import ExplainWindow
    from dclip_app.finetune import FinetuneWizard
    from dclip_app.finetune.commands import ModelSwitchResult
    from dclip_app.main_window import MainWindow
    from dclip_app.results_model import SearchHit
    from dclip_core.config import Settings


def _bring_forward(window: QWidget) -> None:
    window.show()
    window.raise_()
    window.activateWindow()


class ToolWindows:
    """The explain, annotate and fine-tune windows of one main window."""

    def __init__(self, main: MainWindow) -> None:
        self.main = main
        self.explain: ExplainWindow | None = None
        self.annotate: AnnotateWindow | None = None
        self.finetune: FinetuneWizard | None = None

    def open_explain(self) -> ExplainWindow:
        """The explain window (made on first use), on the library's current model bundle."""
        from dclip_app.explain_runner import ExplainRunner
        from dclip_app.explain_window import ExplainWindow

        encoder = self.main.service.encoder
        bundle = encoder.manifest.path if encoder is not None else None
        if self.explain is None:
            settings = self.main.settings
            runner = ExplainRunner(
                bundle,
                provider=settings.execution_provider,
                threads=settings.threads,
                parent=self.main,
            )
            self.explain = ExplainWindow(runner, parent=self.main)
        self.explain.runner.set_bundle(bundle)
        _bring_forward(self.explain)
        return self.explain

    def explain_hit(self, hit: SearchHit) -> None:
        """Open "Why this match?" on ``hit`` for the words searched."""
        from dclip_app.explain_runner import ExplainRequest

        request = ExplainRequest.from_search(Path(hit.path), self.main.last_input.text)
        self.open_explain().explain(request.photo, request.query)

    def explain_current(self) -> None:
        hit = self.main.results.view.current_hit()
        if hit is not None:
            self.explain_hit(hit)
        else:
            self.open_explain()  # on any photo: its own "Open photo…"

    def annotate_current(self) -> None:
        """Annotate the search results (from the current one), else the selected folder's photos
        (every folder's when "All folders" is selected); a refusal is said in the status bar."""
        from dclip_app.annotate.navigation import folder_photos
        from dclip_core.library.annotations import AnnotationError

        main = self.main
        library = main.service.library
        hits = main.results.model.hits
        photos: list[Path | int] = []
        start = 0
        if hits:
            photos = [hit.image_id for hit in hits]
            # By hit, not by row: the relevance separator is a row of its own.
            current = main.results.view.current_hit()
            start = photos.index(current.image_id) if current is not None else 0
        elif library is not None:
            folders = list(main.sidebar.selected_folders())  # none: every folder
            photos = list(folder_photos(library.annotations(), folders))
        try:
            self.open_annotate(photos, start)
        except AnnotationError as exc:
            main.index_status.show_message(str(exc))

    def open_annotate(self, photos: Sequence[Path | int], start: int = 0) -> AnnotateWindow:
        """An annotation window on ``photos`` (paths or image ids), at ``start``.

        A window already open on other photos is closed first (its edits are already written).

        Raises:
            AnnotationError: the library is not open, or none of ``photos`` can be annotated.
        """
        from dclip_app.annotate.window import AnnotateWindow
        from dclip_core.library.annotations import AnnotationError

        library = self.main.service.library
        if library is None:
            raise AnnotationError("the library is still opening; try again in a moment")
        if self.annotate is not None:
            self.annotate.close()
        if self.finetune is not None:
            # A training run goes on in the background (the wizard asks); re-attached next start.
            self.finetune.close()
            self.annotate = None
        self.annotate = AnnotateWindow(
            library, list(photos), start, shortcuts=self.main.settings.shortcuts, parent=self.main
        )
        _bring_forward(self.annotate)
        return self.annotate

    # --- fine-tuning and the model switch ---------------------------------------------------------

    def _folders(self) -> list[Path]:
        library = self.main.service.library
        return [root.path for root in library.roots()] if library is not None else []

    def open_finetune(self) -> FinetuneWizard:
        """The fine-tune wizard (a new one unless one is open: a run keeps its wizard)."""
        from dclip_app.finetune import FinetuneWizard

        if self.finetune is None or not self.finetune.isVisible():
            self._adopt(FinetuneWizard(self.main.settings, self._folders(), parent=self.main))
        assert self.finetune is not None
        _bring_forward(self.finetune)
        return self.finetune

    def offer_unfinished_run(self) -> FinetuneWizard | None:
        """At start: ask about a fine-tune that has not finished (still training or stopped)."""
        from dclip_app.finetune import offer_unfinished_run

        wizard = offer_unfinished_run(self.main, self.main.settings, self._folders())
        if wizard is not None:
            self._adopt(wizard)
        return wizard

    def _adopt(self, wizard: FinetuneWizard) -> None:
        self.finetune = wizard
        wizard.model_activated.connect(self.main.model_switched)
        wizard.model_rolled_back.connect(self.main.model_switched)

    def rollback(self) -> None:
        """The Model menu's *Back to the previous model*, in the background."""
        from dclip_app.finetune import rollback_model

        def done(result: ModelSwitchResult) -> None:
            self.main.model_switched(result.active_bundle)
            self.main.index_status.show_message(f"Searching with {result.active_name} again")

        def failed(error: BaseException) -> None:
            self.main.index_status.show_message(str(error))

        self.main.index_status.show_message("Going back to the previous model…")
        rollback_model(self.main.setup_pool, done, failed)

    def settings_changed(self, settings: Settings) -> None:
        if self.annotate is not None:
            self.annotate.set_shortcuts(settings.shortcuts)

    def close_all(self) -> None:
        """Close every window (the main window is closing)."""
        if self.explain is not None:
            self.explain.close()
            self.explain.runner.shutdown()
        if self.annotate is not None:
            self.annotate.close()
        if self.finetune is not None:
            # A training run goes on in the background (the wizard asks); re-attached next start.
            self.finetune.close()
