"""The results pane: the summary line, the grid of results (or a sentence when there are none).

It shows what :class:`~dclip_app.library_service.LibraryService` answers and asks for more:
scrolled near the end of a search that may have more results, it emits :attr:`ResultsPane.
more_wanted` with the outcome whose next page to fetch. What its results can do (open, reveal,
copy, find similar, explain) it hands to the window as signals; the window decides.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import QLabel, QMenu, QStackedWidget, QVBoxLayout, QWidget

from dclip_app.resources import icon
from dclip_app.results_model import ResultsModel, SearchHit
from dclip_app.results_view import ResultDelegate, ResultsView
from dclip_app.searching import SearchOutcome
from dclip_app.thumbnails import ThumbnailCache


class ResultsPane(QWidget):
    """Summary, grid and empty state of the current search.

    Args:
        thumbnails: the grid's thumbnail cache.
        sources: files to draw a hit's thumbnail from (called on a pool thread).
    """

    more_wanted = Signal(object)  # the SearchOutcome whose next page to fetch
    open_requested = Signal(object)  # SearchHit
    reveal_requested = Signal(object)
    copy_requested = Signal(object)
    similar_requested = Signal(object)
    explain_requested = Signal(object)  # "Why this match?"

    def __init__(
        self,
        thumbnails: ThumbnailCache,
        sources: Callable[[SearchHit], Callable[[], list[Path]]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = ResultsModel()
        self.view = ResultsView(ResultDelegate(thumbnails, sources))
        self.view.setModel(self.model)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.summary_label = QLabel()
        self.summary_label.setObjectName("HelpText")
        self.empty_label = QLabel()
        self.empty_label.setObjectName("EmptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_label)
        self.stack.addWidget(self.view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.stack, 1)
        self.outcome: SearchOutcome | None = None

        self.view.open_requested.connect(self.open_requested)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.verticalScrollBar().valueChanged.connect(self._maybe_want_more)

    @property
    def has_hits(self) -> bool:
        return bool(self.model.hits)

    def show_outcome(self, outcome: SearchOutcome) -> None:
        """Show a finished search; a further page of the same query keeps the user's place."""
        previous = self.outcome
        current_row = self.view.currentIndex().row()
        self.outcome = outcome
        self.view.set_separator_caption(
            f"Below the relevance cutoff ({outcome.threshold:.2f}): weaker matches"
        )
        self.model.set_results(outcome.results, separate_irrelevant=outcome.query.sort == "score")
        self.summary_label.setText(outcome.summary)
        if self.has_hits:
            self.stack.setCurrentWidget(self.view)
        if previous is not None and previous.query == outcome.query and current_row >= 0:
            self.view.setCurrentIndex(self.model.index(current_row, 0))

    def clear(self) -> None:
        """No search: no results, no summary."""
        self.outcome = None
        self.model.set_results([], separate_irrelevant=False)
        self.summary_label.setText("")

    def show_message(self, text: str) -> None:
        """Show ``text`` where the grid would be (empty library, no match, a failed search)."""
        self.empty_label.setText(text)
        self.stack.setCurrentWidget(self.empty_label)

    def _maybe_want_more(self, value: int) -> None:
        bar = self.view.verticalScrollBar()
        outcome = self.outcome
        if outcome is None or not outcome.may_have_more or bar.maximum() == 0:
            return
        if value >= bar.maximum() - 2 * self.view.gridSize().height():
            self.more_wanted.emit(outcome)

    def _context_menu(self, position: QPoint) -> None:
        index = self.view.indexAt(position)
        hit = self.model.hit_at(index.row()) if index.isValid() else None
        if hit is None:
            return
        menu = QMenu(self)
        menu.addAction(icon("open"), "Open", lambda: self.open_requested.emit(hit))
        menu.addAction(icon("reveal"), "Show in folder", lambda: self.reveal_requested.emit(hit))
        menu.addAction(icon("copy"), "Copy path", lambda: self.copy_requested.emit(hit))
        menu.addAction(icon("similar"), "Find similar", lambda: self.similar_requested.emit(hit))
        menu.addAction(icon("help"), "Why this match?", lambda: self.explain_requested.emit(hit))
        menu.exec(self.view.viewport().mapToGlobal(position))
