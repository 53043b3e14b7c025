"""The annotation window, driven as a user would (mouse on the canvas, buttons, keys), each step
checked in the DATABASE through a fresh connection, not just in the widgets."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QPoint, QPointF, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QLineEdit, QListWidget
from pytestqt.qtbot import QtBot

from dclip_app.annotate.window import AnnotateWindow
from dclip_app.settings_dialog import SettingsDialog
from dclip_core.config import Settings, load_settings
from dclip_core.library import Library
from dclip_core.library.annotations import AnnotationError, Box
from tests.app.annotate.conftest import PhotoLibrary

pytestmark = pytest.mark.gui


@pytest.fixture
def library(photo_rows: PhotoLibrary) -> Iterator[Library]:
    opened = Library(photo_rows.library_dir)
    yield opened
    opened.close()


def open_window(
    qtbot: QtBot, library: Library, photos: Sequence[Path | int], start: int = 0
) -> AnnotateWindow:
    window = AnnotateWindow(library, list(photos), start)
    qtbot.addWidget(window)
    window.resize(1100, 700)
    with qtbot.waitSignal(window.photo_shown, timeout=10_000):
        window.show()
    qtbot.waitExposed(window)
    window.canvas.fit()
    return window


def show_next(qtbot: QtBot, window: AnnotateWindow, action: str = "next_photo") -> None:
    with qtbot.waitSignal(window.photo_shown, timeout=10_000):
        window.key_actions[action].trigger()
    window.canvas.fit()


def at(window: AnnotateWindow, x: float, y: float) -> QPoint:
    """Where photo pixel ``(x, y)`` is on the canvas's viewport."""
    return window.canvas.mapFromScene(QPointF(x, y))


def drag(
    qtbot: QtBot, window: AnnotateWindow, start: tuple[float, float], end: tuple[float, float]
) -> None:
    viewport = window.canvas.viewport()
    a, b = at(window, *start), at(window, *end)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(viewport, (a + b) / 2)
    qtbot.mouseMove(viewport, b)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=b)


def edit_in_place(qtbot: QtBot, view: QListWidget, row: int, text: str) -> None:
    view.editItem(view.item(row))
    editor = view.findChild(QLineEdit)
    assert editor is not None
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)


def stored_boxes(photo_rows: PhotoLibrary, image_id: int) -> list[Box]:
    return photo_rows.stored().boxes(image_id)


def geometry_of(box: Box) -> tuple[float, float, float, float]:
    return (box.x, box.y, box.width, box.height)


def near(actual: tuple[float, ...], expected: tuple[float, ...], tolerance: float = 1.0) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def test_draw_move_resize_and_delete_a_box_each_undone_and_redone(
    qtbot: QtBot, library: Library, photo_rows: PhotoLibrary
) -> None:
    image_id = photo_rows.ids[0]  # 200 x 100 pixels
    window = open_window(qtbot, library, photo_rows.ids)
    undo, redo = window.key_actions["undo"], window.key_actions["redo"]
    window.box_panel.label_field.setText("cat")

    window.key_actions["new_box"].trigger()
    assert window.tool.drawing
    drag(qtbot, window, (20, 20), (80, 60))
    [box] = stored_boxes(photo_rows, image_id)
    assert (box.label, box.source, box.status) == ("cat", "user", "accepted")
    assert near(geometry_of(box), (20, 20, 60, 40))
    assert not window.tool.drawing  # one box per "New box"
    assert window.tool.selected == box.id
    assert [item.index for item in window.canvas.boxes] == [box.id]
    undo.trigger()
    assert stored_boxes(photo_rows, image_id) == []
    assert window.canvas.boxes == []
    redo.trigger()
    assert stored_boxes(photo_rows, image_id) == [box]  # back under its own id

    drag(qtbot, window, (50, 40), (80, 50))  # grab the middle, move by (30, 10)
    [moved] = stored_boxes(photo_rows, image_id)
    assert near(geometry_of(moved), (box.x + 30, box.y + 10, box.width, box.height))
    undo.trigger()
    assert stored_boxes(photo_rows, image_id) == [box]
    assert near(window.canvas.boxes[0].rect().getRect(), geometry_of(box), 0.01)
    redo.trigger()
    assert stored_boxes(photo_rows, image_id) == [moved]

    window.select_box(moved.id)
    drag(qtbot, window, moved.corners[2:], (190, 95))  # the bottom-right handle
    [resized] = stored_boxes(photo_rows, image_id)
    assert near(geometry_of(resized), (moved.x, moved.y, 190 - moved.x, 95 - moved.y))
    drag(qtbot, window, (150, 80), (400, 400))  # move past the corner: stops at the edges
    [pushed] = stored_boxes(photo_rows, image_id)
    assert near(pushed.corners[2:], (200, 100), 0.01)
    undo.trigger()
    undo.trigger()
    assert stored_boxes(photo_rows, image_id) == [moved]
    redo.trigger()
    assert stored_boxes(photo_rows, image_id) == [resized]

    window.select_box(resized.id)
    window.key_actions["delete"].trigger()
    assert stored_boxes(photo_rows, image_id) == []
    assert window.canvas.boxes == []
    assert window.box_panel.list.count() == 0
    undo.trigger()
    assert stored_boxes(photo_rows, image_id) == [resized]
    assert window.box_panel.list.count() == 1
    redo.trigger()
    assert stored_boxes(photo_rows, image_id) == []


def test_relabel_with_the_label_field(
    qtbot: QtBot, library: Library, photo_rows: PhotoLibrary
) -> None:
    api = photo_rows.stored()
    image_id = photo_rows.ids[0]
    api.add_box(photo_rows.ids[1], 0, 0, 10, 10, "sofa")  # a label used elsewhere
    box = api.add_box(image_id, 10, 10, 50, 50, "cat").first_created()
    window = open_window(qtbot, library, photo_rows.ids)
    completions = window.box_panel.label_model.stringList()
    assert completions == ["sofa", "cat"]  # every label of the library, in order
    window.select_box(box.id)
    assert window.box_panel.label_field.text() == "cat"
    window.box_panel.label_field.setText("kitten")
    qtbot.keyClick(window.box_panel.label_field, Qt.Key.Key_Return)
    assert [b.label for b in stored_boxes(photo_rows, image_id)] == ["kitten"]
    assert "kitten" in window.box_panel.label_model.stringList()
    assert window.canvas.boxes[0].tag.text == "kitten"
    window.key_actions["undo"].trigger()
    assert [b.label for b in stored_boxes(photo_rows, image_id)] == ["cat"]


def test_review_suggestions_one_by_one_and_all_at_once(
    qtbot: QtBot, library: Library, photo_rows: PhotoLibrary
) -> None:
    api = photo_rows.stored()
    image_id = photo_rows.ids[0]
    ids = [
        api.add_box(image_id, 10 + 40 * i, 10, 30, 30, name, source="detector", score=0.9 - i / 10)
        .first_created()
        .id
        for i, name in enumerate(["cat", "dog", "bird", "cup"])
    ]
    window = open_window(qtbot, library, photo_rows.ids)
    assert all(item.dashed for item in window.canvas.boxes)  # suggestions look different
    assert window.box_panel.count_label.text() == "0 boxes, 4 suggestions to review"

    def statuses() -> list[str]:
        return [
            b.status
            for b in photo_rows.stored().boxes(image_id, ("accepted", "suggested", "rejected"))
        ]

    window.key_actions["accept"].trigger()  # nothing selected: the first suggestion
    assert statuses() == ["accepted", "suggested", "suggested", "suggested"]
    assert not window.tool.item(ids[0]).dashed  # type: ignore[union-attr]
    assert window.tool.selected == ids[1]  # on to the next one
    window.box_panel.reject_button.click()
    assert statuses() == ["accepted", "rejected", "suggested", "suggested"]
    assert window.tool.item(ids[1]) is None  # a rejected suggestion is hidden
    assert [label.name for label in photo_rows.stored().labels()] == ["cat"]
    window.key_actions["undo"].trigger()
    assert statuses() == ["accepted", "suggested", "suggested", "suggested"]
    window.box_panel.accept_all_button.click()
    assert statuses() == ["accepted"] * 4
    window.key_actions["undo"].trigger()
    window.key_actions["reject_all"].trigger()
    assert statuses() == ["accepted", "rejected", "rejected", "rejected"]
    assert [item.index for item in window.canvas.boxes] == [ids[0]]
    assert window.progress_label.text().strip() == "1 of 3 annotated"


def test_captions_add_edit_reorder_delete_and_link_a_span(
    qtbot: QtBot, library: Library, photo_rows: PhotoLibrary
) -> None:
    api = photo_rows.stored()
    image_id = photo_rows.ids[0]
    box = api.add_box(image_id, 10, 10, 50, 50, "cat").first_created()
    window = open_window(qtbot, library, photo_rows.ids)
    panel = window.caption_panel

    def captions() -> list[str]:
        return [c.text for c in photo_rows.stored().captions(image_id)]

    qtbot.keyClicks(panel.new_field, "a cat on a mat")
    qtbot.keyClick(panel.new_field, Qt.Key.Key_Return)
    panel.new_field.setText("two pets")
    panel.add_button.click()
    assert captions() == ["a cat on a mat", "two pets"]

    edit_in_place(qtbot, panel.list, 0, "a grey cat on a mat")  # double-click, type, Enter
    qtbot.waitUntil(lambda: captions() == ["a grey cat on a mat", "two pets"])
    edit_in_place(qtbot, panel.list, 0, "   ")  # refused: the stored text comes back
    qtbot.waitUntil(lambda: "caption is empty" in window.message_label.text())
    assert captions() == ["a grey cat on a mat", "two pets"]
    assert panel.list.item(0).text() == "a grey cat on a mat"

    panel.select_caption(photo_rows.stored().captions(image_id)[0].id)
    panel.down_button.click()
    assert captions() == ["two pets", "a grey cat on a mat"]
    window.key_actions["undo"].trigger()
    assert captions() == ["a grey cat on a mat", "two pets"]
    # A drag in the list moves the row as a drop does (QListWidget.dropEvent calls moveRow).
    panel.list.model().moveRow(QModelIndex(), 1, QModelIndex(), 0)
    qtbot.waitUntil(lambda: captions() == ["two pets", "a grey cat on a mat"])
    assert [panel.list.item(row).text() for row in range(2)] == captions()
    window.key_actions["undo"].trigger()
    assert captions() == ["a grey cat on a mat", "two pets"]
    panel.list.model().moveRow(QModelIndex(), 0, QModelIndex(), 2)  # to the end
    qtbot.waitUntil(lambda: captions() == ["two pets", "a grey cat on a mat"])
    window.key_actions["undo"].trigger()

    caption = photo_rows.stored().captions(image_id)[0]
    panel.select_caption(caption.id)
    panel.set_span_selection(1, 11)  # " grey cat " (spaces are trimmed)
    assert not panel.link_button.isEnabled()  # no box selected yet
    window.select_box(box.id)
    assert panel.link_button.isEnabled()
    panel.link_button.click()
    [link] = photo_rows.stored().links(image_id)
    assert (link.caption_id, link.start, link.end, link.box_id) == (caption.id, 2, 10, box.id)
    assert panel.links.item(0).text() == "“grey cat” → cat box"
    assert len(panel.text_view.extraSelections()) == 1  # the words are highlighted
    assert window.tool.item(box.id).fill_colour().alpha() > 50  # type: ignore[union-attr]
    panel.links.setCurrentRow(0)
    panel.unlink_button.click()
    assert photo_rows.stored().links(image_id) == []
    window.key_actions["undo"].trigger()
    assert photo_rows.stored().links(image_id) == [link]

    panel.select_caption(caption.id)
    panel.list.setFocus()
    window.key_actions["delete"].trigger()  # focus in the captions: deletes the caption
    assert captions() == ["two pets"]
    assert photo_rows.stored().links(image_id) == []
    assert [b.id for b in stored_boxes(photo_rows, image_id)] == [box.id]


def test_walk_the_photos_with_progress_and_the_unannotated_filter(
    qtbot: QtBot, library: Library, photo_rows: PhotoLibrary
) -> None:
    first, second, third = photo_rows.ids
    photo_rows.stored().add_caption(second, "already done")
    window = open_window(qtbot, library, photo_rows.ids)
    assert window.progress_label.text().strip() == "1 of 3 annotated"
    assert not window.key_actions["previous_photo"].isEnabled()
    show_next(qtbot, window)
    assert window.session.photo.image_id == second
    assert window.caption_panel.list.count() == 1
    assert window.canvas.photo_size == (201, 101)

    with qtbot.waitSignal(window.photo_shown, timeout=10_000):
        window.only_unannotated.setChecked(True)  # the current one is done: on to the next
    assert window.session.photo.image_id == third
    window.caption_panel.new_field.setText("a rocket")
    window.caption_panel.add_button.click()
    assert window.progress_label.text().strip() == "2 of 3 annotated"
    show_next(qtbot, window, "previous_photo")  # skips the annotated ones
    assert window.session.photo.image_id == first
    window.key_actions["undo"].trigger()  # this photo has no history: nothing happens
    assert photo_rows.stored().captions(third) != []
    show_next(qtbot, window, "next_unannotated")
    assert window.session.photo.image_id == first  # the only one left, wrapping around
    # Each photo keeps its own history: back on the third photo, undo removes its caption.
    window.only_unannotated.setChecked(False)
    while window.session.photo.image_id != third:
        show_next(qtbot, window)
    window.key_actions["undo"].trigger()
    assert photo_rows.stored().captions(third) == []
    assert window.progress_label.text().strip() == "1 of 3 annotated"


def test_photos_given_by_path_and_the_ones_left_out(
    qtbot: QtBot, library: Library, photo_rows: PhotoLibrary
) -> None:
    outside = photo_rows.photos / "not-indexed.jpg"
    window = open_window(qtbot, library, [outside, photo_rows.photos / "beach" / "p1.jpg"])
    assert window.session.photo.image_id == photo_rows.ids[1]
    assert "1 photo(s) left out" in window.message_label.text()
    assert str(photo_rows.photos) not in window.title_label.text()  # the name, not the path
    with pytest.raises(AnnotationError, match="none of the 1 photos"):
        AnnotateWindow(library, [outside])


def test_a_rebound_shortcut_takes_effect(
    qtbot: QtBot, library: Library, photo_rows: PhotoLibrary
) -> None:
    dialog = SettingsDialog(Settings(), suggestions={})
    qtbot.addWidget(dialog)
    table = dialog.editors["shortcuts"].widget
    field = table.fields["annotate.next_photo"]  # type: ignore[attr-defined]
    field.setFocus()
    qtbot.keyClick(field, Qt.Key.Key_Right)
    dialog.accept()
    assert dialog.saved is not None
    assert load_settings().shortcuts == {"annotate.next_photo": "Right"}

    window = open_window(qtbot, library, photo_rows.ids)
    window.set_shortcuts(dialog.saved.shortcuts)
    window.canvas.setFocus()
    window.activateWindow()
    qtbot.keyClick(window.canvas, Qt.Key.Key_D)  # the old key does nothing now
    assert window.session.photo.image_id == photo_rows.ids[0]
    with qtbot.waitSignal(window.photo_shown, timeout=10_000):
        qtbot.keyClick(window.canvas, Qt.Key.Key_Right)
    assert window.session.photo.image_id == photo_rows.ids[1]
    help_panel = window.show_shortcuts()
    assert help_panel.key_of("Next photo") == "Right"
    help_panel.close()


def test_a_key_set_twice_is_not_saved(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings(), suggestions={})
    qtbot.addWidget(dialog)
    table = dialog.editors["shortcuts"].widget
    table.fields["annotate.fit"].setKeySequence(QKeySequence("D"))  # type: ignore[attr-defined]
    dialog.accept()
    assert dialog.saved is None
    assert "D is set for both" in dialog.error_label.text()
    QApplication.processEvents()


def test_letters_typed_in_a_field_are_text_not_shortcuts(
    qtbot: QtBot, library: Library, photo_rows: PhotoLibrary
) -> None:
    window = open_window(qtbot, library, photo_rows.ids)
    window.activateWindow()
    field = window.caption_panel.new_field
    field.setFocus()
    qtbot.keyClicks(field, "dry sand")  # D is "next photo", R "new box", N "reject"
    assert field.text() == "dry sand"
    assert window.session.photo.image_id == photo_rows.ids[0]
    assert not window.tool.drawing


def test_a_click_draws_nothing_and_escape_leaves_new_box(
    qtbot: QtBot, library: Library, photo_rows: PhotoLibrary
) -> None:
    window = open_window(qtbot, library, photo_rows.ids)
    window.key_actions["new_box"].trigger()
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=at(window, 50, 50))
    assert stored_boxes(photo_rows, photo_rows.ids[0]) == []
    window.key_actions["new_box"].trigger()
    assert window.tool.drawing
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    assert not window.tool.drawing
    assert not window.key_actions["new_box"].isChecked()
