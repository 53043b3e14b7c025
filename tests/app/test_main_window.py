"""The main window end to end, with the real library and the test-tiny bundle."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from pytestqt.qtbot import QtBot

from dclip_app.main_window import LIBRARY_PAGE, MainWindow
from dclip_core.config import Settings
from dclip_core.library.library import Library
from tests.app.conftest import close_window, wait_for_indexing
from tests.helpers.images import PHOTOS

pytestmark = pytest.mark.gui


def add_and_index(qtbot: QtBot, window: MainWindow, folder: Path) -> None:
    with qtbot.waitSignal(window.service.index_finished, timeout=60_000):
        window.sidebar.add_requested.emit([folder])  # what the + button and a folder drop do
    wait_for_indexing(qtbot, window)


def search_for(qtbot: QtBot, window: MainWindow, text: str) -> None:
    with qtbot.waitSignal(window.service.search_done, timeout=15_000):
        window.search_bar.text_field.clear()
        qtbot.keyClicks(window.search_bar.text_field, text)  # debounced search-as-you-type


def shown_paths(window: MainWindow) -> list[Path]:
    return [Path(h.path) for h in window.results.model.hits]


def test_add_folder_index_and_search_as_you_type(
    qtbot: QtBot, window: MainWindow, photo_library: Path
) -> None:
    assert window.pages.currentIndex() == LIBRARY_PAGE
    assert "Model:" in window.model_status.text()
    assert "CPU" in window.model_status.text()
    assert "library is empty" in window.results.empty_label.text()

    add_and_index(qtbot, window, photo_library)

    folder_item = window.sidebar.folder_list.item(1).text()
    assert folder_item.startswith("photos")
    assert "8 photos" in folder_item
    assert "Library up to date" in window.index_status.label.text()

    search_for(qtbot, window, "an orange circle, 2:sunset")
    assert window.results.stack.currentWidget() is window.results.view
    assert sorted(p.name for p in shown_paths(window)) == sorted(f"{n}.jpg" for _, n, *_ in PHOTOS)
    assert window.results.summary_label.text().startswith("8 results")
    scores = [h.score for h in window.results.model.hits]
    assert scores == sorted(scores, reverse=True)

    # Keyboard: the first result becomes current and fills the detail pane.
    window.results.view.setFocus()
    window.results.view.select_first()
    first = window.results.model.hits[0]
    assert window.detail.name_label.text() == Path(first.path).name
    assert f"{first.score:.3f}" in window.detail.fields["Score"].text()
    assert window.detail.similar_button.isEnabled()


def test_search_by_example_drop_and_find_similar(
    qtbot: QtBot, window: MainWindow, photo_library: Path
) -> None:
    add_and_index(qtbot, window, photo_library)
    example = photo_library / "forest" / "moss.jpg"

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(example))])
    drop = QDropEvent(
        QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    with qtbot.waitSignal(window.service.search_done, timeout=15_000):
        window.search_bar.drop_area.dropEvent(drop)
    assert window.search_bar.drop_area.text() == "Like: moss.jpg"
    assert shown_paths(window)[0] == example  # a photo is most like itself

    # "Find similar" from the detail pane searches by that library photo.
    # (the fourth hit: where the relevance separator falls depends on the scores)
    fourth = window.results.model.row_of_hit(3)
    window.results.view.setCurrentIndex(window.results.model.index(fourth, 0))
    chosen = window.detail.hit
    assert chosen is not None
    with qtbot.waitSignal(window.service.search_done, timeout=15_000):
        qtbot.mouseClick(window.detail.similar_button, Qt.MouseButton.LeftButton)
    assert shown_paths(window)[0] == Path(chosen.path)

    with qtbot.waitSignal(window.service.search_done, timeout=15_000):
        window.search_bar.clear_example()
        window.search_bar.text_field.setText("green")
        window.search_bar.emit_now()
    assert window.search_bar.drop_area.text().startswith("Drop a photo")


def test_folder_date_filters_and_sort(
    qtbot: QtBot, window: MainWindow, photo_library: Path
) -> None:
    with qtbot.waitSignal(window.service.index_finished, timeout=60_000):
        window.sidebar.add_requested.emit([photo_library / "beach", photo_library / "forest"])
    wait_for_indexing(qtbot, window)
    search_for(qtbot, window, "a photo")
    assert len(shown_paths(window)) == 8

    # Selecting the "forest" folder in the sidebar filters the results to it.
    rows = [window.sidebar.folder_list.item(r).text() for r in range(3)]
    assert rows[0].startswith("All folders")
    forest_row = next(r for r, text in enumerate(rows) if text.startswith("forest"))
    with qtbot.waitSignal(window.service.search_done, timeout=15_000):
        window.sidebar.folder_list.setCurrentRow(forest_row)
    assert {p.parent.name for p in shown_paths(window)} == {"forest"}
    assert len(shown_paths(window)) == 4
    with qtbot.waitSignal(window.service.search_done, timeout=15_000):
        window.sidebar.folder_list.setCurrentRow(0)
    assert len(shown_paths(window)) == 8

    # Date range: photos taken in 2021 only (the "to" day is inclusive).
    with qtbot.waitSignal(window.service.search_done, timeout=15_000):
        window.search_bar.set_date_range(date(2021, 1, 1), date(2021, 12, 31))
    assert sorted(p.name for p in shown_paths(window)) == ["sand.jpg", "sunset.jpg"]

    # Sort by date, newest first, over all years.
    with qtbot.waitSignal(window.service.search_done, timeout=15_000):
        window.search_bar.set_date_range(None, None)
    with qtbot.waitSignal(window.service.search_done, timeout=15_000):
        window.search_bar.sort_combo.setCurrentIndex(1)
    taken = [h.taken_at for h in window.results.model.hits]
    assert taken == sorted(taken, reverse=True)
    assert not window.results.model.has_separator  # the cutoff line only makes sense by score


def test_negative_terms_change_the_ranking(
    qtbot: QtBot, window: MainWindow, photo_library: Path
) -> None:
    add_and_index(qtbot, window, photo_library)
    search_for(qtbot, window, "green forest")
    plain = [h.score for h in window.results.model.hits]
    with qtbot.waitSignal(window.service.search_done, timeout=15_000):
        qtbot.keyClicks(window.search_bar.without_field, "trees")
    without = [h.score for h in window.results.model.hits]
    assert len(without) == len(plain)
    assert without != plain


def test_remove_folder_empties_results(
    qtbot: QtBot, window: MainWindow, photo_library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_and_index(qtbot, window, photo_library)
    window.sidebar.folder_list.setCurrentRow(1)
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(
        QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Yes
    )
    qtbot.mouseClick(window.sidebar.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.service.folders, timeout=15_000)
    assert "Removed photos: 8 photo(s)" in window.index_status.label.text()
    assert photo_library.joinpath("beach", "sea.jpg").is_file()  # files are never touched


def test_close_while_indexing_asks_then_stops_cleanly(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    from tests.helpers.images import draw_photo

    big = tmp_path / "many"
    big.mkdir()
    for i in range(120):
        draw_photo(big / f"p{i:03d}.jpg", (i * 2 % 255, 90, 200 - i), "circle", size=64)
    window.sidebar.add_requested.emit([big])
    qtbot.waitUntil(lambda: window.service.indexing, timeout=10_000)
    window.service.pause_indexing(True)  # hold the run mid-way, like a slow disk would

    asked: list[list[str]] = []
    window.confirm_close = lambda work: asked.append(work) or False  # type: ignore[method-assign]
    window.close()
    assert asked == [["indexing"]]
    assert window.isVisible()  # "no" keeps the window and the work
    assert window.service.indexing

    window.confirm_close = lambda work: True  # type: ignore[method-assign]
    window.close()
    assert not window.isVisible()
    assert window.service.library is None  # closed after the writer stopped
    assert window.service.writer.live_workers() == []

    # Nothing half-written: the library opens, the writer lock is free, counts are consistent.
    with Library.open() as library:
        status = library.status()
        assert status.writer_pid is None
        assert status.images + status.failed <= 120
        library.remove_root(big)  # takes the writer lock: it must be free


def test_cancel_keeps_what_was_indexed_and_rescan_finishes(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    from tests.helpers.images import draw_photo

    big = tmp_path / "many"
    big.mkdir()
    for i in range(120):
        draw_photo(big / f"p{i:03d}.jpg", (i * 2 % 255, 120, 90), "rect", size=64)
    window.sidebar.add_requested.emit([big])
    qtbot.waitUntil(lambda: window.service.indexing, timeout=10_000)
    window.service.pause_indexing(True)
    qtbot.mouseClick(window.index_status.cancel_button, Qt.MouseButton.LeftButton)
    wait_for_indexing(qtbot, window)
    assert "Indexing stopped" in window.index_status.label.text()
    assert window.index_status.bar.isHidden()
    stopped_at = window.service.folders[0].photos
    assert stopped_at < 120

    qtbot.mouseClick(window.sidebar.rescan_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.service.indexing, timeout=10_000)
    wait_for_indexing(qtbot, window)
    assert window.service.folders[0].photos == 120
    assert "Library up to date" in window.index_status.label.text()


def test_find_small_things_reindexes_with_crops_and_results_say_where(
    qtbot: QtBot, window: MainWindow, photo_library: Path
) -> None:
    add_and_index(qtbot, window, photo_library)
    action = window.menu_actions.regions
    assert action.isEnabled()
    assert not action.isChecked()

    with qtbot.waitSignal(window.service.index_finished, timeout=60_000):
        action.trigger()  # Library ▸ Find small things
    wait_for_indexing(qtbot, window)
    assert action.isChecked()
    assert action.isEnabled()
    assert window.service.region_layout() == "grid"
    assert "8 new" in window.index_status.label.text()  # every photo embedded again, with crops
    assert window.service.library is not None
    models = {m.regions: m for m in window.service.library.models()}
    assert models["grid"].active
    assert models["grid"].embedded == len(PHOTOS)

    search_for(qtbot, window, "a green triangle")
    hits = window.results.model.hits
    assert len(hits) == len(PHOTOS)
    regions = [getattr(h, "region", None) for h in hits]
    assert all(r is None or len(r) == 4 for r in regions)

    # Switching back re-embeds into plain vectors; results then have no crop to show.
    with qtbot.waitSignal(window.service.index_finished, timeout=60_000):
        action.trigger()
    wait_for_indexing(qtbot, window)
    assert not action.isChecked()
    assert window.service.region_layout() == "none"
    search_for(qtbot, window, "a green triangle")
    assert all(getattr(h, "region", None) is None for h in window.results.model.hits)


def test_load_more_fetches_the_next_page_after_the_ones_shown(
    qtbot: QtBot, window: MainWindow, photo_library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dclip_app.searching.FIRST_PAGE", 3)
    add_and_index(qtbot, window, photo_library)
    with qtbot.waitSignal(window.service.search_done, timeout=15_000) as first:
        window.search_bar.text_field.setText("green")
        window.search_bar.emit_now()
    page_one = first.args[0]
    assert len(page_one.results) == 3
    assert page_one.may_have_more

    with qtbot.waitSignal(window.service.search_done, timeout=15_000) as second:
        window.service.search(page_one.query, more_of=page_one)
    page_two = second.args[0]
    assert page_two.response.query.offset == 3  # only the new page was asked for
    assert page_two.results[:3] == page_one.results
    assert [r.rank for r in page_two.results] == list(range(1, 7))
    assert len({r.path for r in page_two.results}) == 6

    with qtbot.waitSignal(window.service.search_done, timeout=15_000) as third:
        window.service.search(page_two.query, more_of=page_two)
    everything = third.args[0]
    assert sorted(r.path.name for r in everything.results) == sorted(
        f"{name}.jpg" for _, name, *_ in PHOTOS
    )
    assert not everything.may_have_more
    assert shown_paths(window) == [r.path for r in everything.results]


def test_annotate_opens_on_the_folder_then_on_the_search_results(
    qtbot: QtBot, window: MainWindow, photo_library: Path
) -> None:
    add_and_index(qtbot, window, photo_library)
    window.menu_actions.annotate.trigger()  # no search yet: every photo of the library
    annotate = window.tool_windows.annotate
    assert annotate is not None
    assert annotate.isVisible()
    assert len(annotate.session.list) == len(PHOTOS)

    search_for(qtbot, window, "a photo")
    hits = window.results.model.hits
    model = window.results.model
    window.results.view.setCurrentIndex(model.index(model.row_of_hit(2), 0))
    window.menu_actions.annotate.trigger()  # the results, from the current one
    annotate = window.tool_windows.annotate
    assert annotate is not None
    assert annotate.session.list.ids == [hit.image_id for hit in hits]
    assert annotate.session.list.current == hits[2].image_id
    annotate.session.add_caption("a caption written from the search results")
    library = Library(window.service.library.library_dir)  # a second connection: it is written
    assert [c.text for c in library.annotations().captions(hits[2].image_id)] == [
        "a caption written from the search results"
    ]
    library.close()


def test_model_menu_opens_the_wizard_and_a_rollback_without_previous_model_says_so(
    qtbot: QtBot, window: MainWindow
) -> None:
    menus = [a.text() for a in window.menuBar().actions()]
    assert menus == ["&Library", "&Search", "&Model"]
    window.menu_actions.finetune.trigger()
    wizard = window.tool_windows.finetune
    assert wizard is not None
    assert wizard.isVisible()
    assert window.tool_windows.open_finetune() is wizard  # one wizard while it is open
    wizard.close()

    window.menu_actions.rollback.trigger()  # a `dclip models rollback` child
    label = window.index_status.label
    qtbot.waitUntil(lambda: "failed" in label.text(), timeout=60_000)
    assert label.text() == (
        "rolling back to the previous model failed: no previous model to roll back to; "
        "`dclip models activate BUNDLE` records one"
    )
    assert window.settings.model == str(window.service.encoder.manifest.path)


def test_an_unfinished_fine_tune_is_offered_at_start(
    qtbot: QtBot, app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dclip_app.finetune import startup
    from dclip_app.finetune.runs import runs_root

    run = runs_root() / "20261207-101500"
    run.mkdir(parents=True)
    (run / "finetune.json").write_text(
        json.dumps(
            {
                "format": "dclip-finetune/1",
                "created": "2026-12-07T10:15:00+00:00",
                "options": {"sources": ["folder=/home/user/Pictures"]},
                "base_model": "test-tiny",
                "stages": {s: {"finished": "", "result": {}} for s in ("check", "split")},
            }
        )
    )
    asked: list[str] = []
    monkeypatch.setattr(
        startup, "ask_about_run", lambda parent, found: asked.append(found.describe()) or "later"
    )
    window = MainWindow(app_settings)
    qtbot.addWidget(window)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: bool(asked), timeout=10_000)
    assert asked == ["20261207-101500: folder=/home/user/Pictures (stopped before estimate)"]
    assert window.tool_windows.finetune is None  # "Later": nothing opened
    close_window(window)
