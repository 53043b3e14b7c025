"""The results grid: separator below the relevance cutoff, keyboard navigation, 100k results."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from dclip_app.results_model import CellKind, ResultsModel
from dclip_app.results_view import (
    CELL_MARGIN,
    CELL_SIZE,
    THUMB_EDGE,
    ResultDelegate,
    ResultsView,
)
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


def test_the_current_result_stays_current_when_the_grid_reflows(
    qtbot: QtBot, grid: tuple[ResultsView, ResultsModel]
) -> None:
    view, model = grid
    model.set_results(hits(30, relevant=7), separate_irrelevant=True)
    ninth = model.row_of_hit(8)
    view.setCurrentIndex(model.index(ninth, 0))
    chosen = view.current_hit()
    assert chosen is not None
    assert chosen.rank == 9

    view.resize(3 * CELL_SIZE.width() + 40, 700)  # fewer columns: the rows are rebuilt
    qtbot.waitUntil(lambda: model.columns == view.columns_that_fit())
    assert model.row_of_hit(8) != ninth  # the separator moved, so the hit's row did too
    assert view.current_hit() is chosen


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


@dataclass(frozen=True)
class RegionHit(Hit):
    region: tuple[float, float, float, float] | None = None


def test_the_crop_that_matched_is_outlined_on_its_thumbnail(
    qtbot: QtBot, grid: tuple[ResultsView, ResultsModel], tmp_path: Path
) -> None:
    from PIL import Image

    from dclip_app.results_view import REGION_INK

    view, model = grid
    photo = tmp_path / "grey.png"
    Image.new("RGB", (400, 400), (128, 128, 128)).save(photo)
    model.set_results(
        [
            RegionHit(1, photo, 0.9, 1, True, region=(0.4, 0.4, 1.0, 1.0)),
            RegionHit(2, photo, 0.8, 2, True, region=None),
        ],
        separate_irrelevant=False,
    )

    def ink_in(row: int, x0: float, y0: float, x1: float, y1: float) -> int:
        """Outline-coloured pixels in a part of the thumbnail (fractions of its square)."""
        shot = view.viewport().grab(view.visualRect(model.index(row, 0))).toImage()
        count = 0
        for y in range(CELL_MARGIN + int(y0 * THUMB_EDGE), CELL_MARGIN + int(y1 * THUMB_EDGE)):
            for x in range(CELL_MARGIN + int(x0 * THUMB_EDGE), CELL_MARGIN + int(x1 * THUMB_EDGE)):
                c = shot.pixelColor(x, y)
                if abs(c.red() - REGION_INK.red()) + abs(c.green() - REGION_INK.green()) < 60:
                    count += 1
        return count

    # Wait for the thumbnail (the outline is drawn on it), then look for the outline's colour.
    qtbot.waitUntil(lambda: ink_in(0, 0.4, 0.4, 1.0, 1.0) > 200, timeout=10_000)
    assert ink_in(0, 0.0, 0.0, 0.38, 1.0) == 0  # nothing drawn outside the matched crop
    assert ink_in(0, 0.0, 0.0, 1.0, 0.38) == 0
    assert ink_in(1, 0.0, 0.0, 1.0, 1.0) == 0  # the whole photo matched: no outline
