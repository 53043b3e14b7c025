"""The results grid: separator below the relevance cutoff, keyboard navigation, 100k results."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from dclip_app.results_model import CellKind, ResultsModel
from dclip_app.results_view import CELL_SIZE, ResultDelegate, ResultsView
from dclip_app.thumbnails import ThumbnailCache
from dclip_app.workers import WorkerPool

pytestmark = pytest.mark.gui


@dataclass(frozen=True)
class Hit:
    image_id: int
    path: Path
    score: float
    rank: int
    relevant: bool


def hits(n: int, relevant: int, folder: Path = Path("/photos")) -> list[Hit]:
    return [
        Hit(i, folder / f"img{i:06d}.jpg", 0.9 - i * 1e-6, i + 1, i < relevant) for i in range(n)
    ]


@pytest.fixture
def grid(qtbot: QtBot) -> tuple[ResultsView, ResultsModel]:
    pool = WorkerPool(max_threads=1)
    cache = ThumbnailCache(pool, 160)
    view = ResultsView(ResultDelegate(cache, lambda hit: lambda: [hit.path]))
    model = ResultsModel()
    view.setModel(model)
    qtbot.addWidget(view)
    view.resize(5 * CELL_SIZE.width() + 40, 700)
    view.show()
    qtbot.waitExposed(view)
    yield view, model
    pool.cancel_all()
    pool.wait_for_done(5000)


def test_separator_fills_exactly_one_grid_row(
    qtbot: QtBot, grid: tuple[ResultsView, ResultsModel]
) -> None:
    view, model = grid
    model.set_results(hits(30, relevant=7), separate_irrelevant=True)
    qtbot.waitUntil(lambda: view.visualRect(model.index(model.rowCount() - 1, 0)).isValid())
    columns = model.columns
    assert columns == view.columns_that_fit() >= 2
    first_separator = next(
        r for r in range(model.rowCount()) if model.kind(r) is CellKind.SEPARATOR
    )
    separator_rows = range(first_separator, first_separator + columns)
    assert all(model.kind(r) is CellKind.SEPARATOR for r in separator_rows)
    tops = {view.visualRect(model.index(r, 0)).top() for r in separator_rows}
    assert len(tops) == 1  # one visual row
    assert view.visualRect(model.index(first_separator, 0)).left() <= 2
    # Hits on both sides are intact and in order.
    shown = [model.hit_at(r) for r in range(model.rowCount())]
    assert [h.rank for h in shown if h is not None] == list(range(1, 31))
    last_relevant_top = view.visualRect(model.index(model.row_of_hit(6), 0)).top()
    first_weak_top = view.visualRect(model.index(model.row_of_hit(7), 0)).top()
    assert last_relevant_top < next(iter(tops)) < first_weak_top

    # Resizing re-flows the separator to the new column count.
    view.resize(3 * CELL_SIZE.width() + 40, 700)
    qtbot.waitUntil(lambda: model.columns == view.columns_that_fit())
    assert sum(1 for r in range(model.rowCount()) if model.kind(r) is CellKind.SEPARATOR) == (
        model.columns
    )


def test_no_separator_when_all_or_none_relevant_or_sorted_by_date(
    grid: tuple[ResultsView, ResultsModel],
) -> None:
    _view, model = grid
    for results, separate in ((hits(10, 10), True), (hits(10, 0), True), (hits(10, 4), False)):
        model.set_results(results, separate_irrelevant=separate)
        assert not model.has_separator
        assert model.rowCount() == 10


def test_keyboard_navigation_skips_separator_cells(
    qtbot: QtBot, grid: tuple[ResultsView, ResultsModel]
) -> None:
    view, model = grid
    model.set_results(hits(40, relevant=3), separate_irrelevant=True)
    view.setFocus()
    view.setCurrentIndex(model.index(1, 0))
    qtbot.keyClick(view, Qt.Key.Key_Down)
    current = view.currentIndex().row()
    assert model.kind(current) is CellKind.HIT
    hit = model.hit_at(current)
    assert hit is not None
    assert not hit.relevant
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert model.hit_at(view.currentIndex().row()).rank == hit.rank + 1  # type: ignore[union-attr]
    with qtbot.waitSignal(view.open_requested, timeout=1000) as opened:
        qtbot.keyClick(view, Qt.Key.Key_Return)
    assert opened.args[0].rank == hit.rank + 1


def test_hundred_thousand_results_lay_out_without_freezing(
    qtbot: QtBot, grid: tuple[ResultsView, ResultsModel]
) -> None:
    view, model = grid
    many = hits(100_000, relevant=25)
    started = time.perf_counter()
    model.set_results(many, separate_irrelevant=True)
    view.viewport().repaint()
    assert time.perf_counter() - started < 1.5
    qtbot.waitUntil(lambda: view.verticalScrollBar().maximum() > 100_000 // 6 * 100, timeout=10_000)
    view.scrollToBottom()
    view.viewport().repaint()
    last = model.hit_at(model.rowCount() - 1)
    assert last is not None
    assert last.rank == 100_000
    # Only what was painted asked for thumbnails, never the 100k.
    cache = view._delegate.thumbnails
    assert len(cache._pending) + len(cache._in_flight) + cache.decoded_count < 200
