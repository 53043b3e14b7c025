"""The Qt-free half of the annotation window: geometry, walking the photos, the photo's state
kept in step by Changes, the shortcut table, span offsets."""

from __future__ import annotations

import pytest

from dclip_app.annotate import geometry
from dclip_app.annotate.navigation import (
    PhotoList,
    annotated_ids,
    folder_photos,
    resolve_photos,
)
from dclip_app.annotate.photo_state import PhotoAnnotations
from dclip_app.annotate.shortcuts import (
    SHORTCUT_ACTIONS,
    bindings,
    conflicts,
    help_rows,
    overrides_of,
)
from dclip_app.annotate.spans import from_utf16, to_utf16, trimmed
from tests.app.annotate.conftest import PhotoLibrary

SIZE = (200, 100)


def test_boxes_drawn_moved_and_resized_stay_inside_the_photo() -> None:
    assert geometry.drawn((150, 80), (20, 10), SIZE) == (20, 10, 130, 70)  # any drag direction
    assert geometry.drawn((150, 80), (260, -5), SIZE) == (150, 0, 50, 80)  # cut at the edges
    assert geometry.moved((10, 10, 50, 20), 500, -40, SIZE) == (150, 0, 50, 20)  # size kept
    assert geometry.resized((10, 10, 50, 20), "bottom_right", (100, 90), SIZE) == (10, 10, 90, 80)
    assert geometry.resized((10, 10, 50, 20), "left", (-30, 0), SIZE) == (0, 10, 60, 20)
    # Dragging an edge past the opposite one flips the box instead of a negative size.
    assert geometry.resized((10, 10, 50, 20), "top", (0, 50), SIZE) == (10, 30, 50, 20)
    points = geometry.handle_points((10, 10, 50, 20))
    assert points["top_left"] == (10, 10)
    assert points["bottom"] == (35, 30)
    assert len(points) == 8
    # Rounding to 1/100 px never pushes a box out of the photo.
    x, y, w, h = geometry.rounded((10.005, 0, 189.995, 100.004), SIZE)
    assert x + w <= 200
    assert y + h <= 100


def test_the_photo_list_steps_filters_and_counts() -> None:
    photos = PhotoList([11, 12, 13, 14], annotated=[12, 99], start=0)
    assert photos.progress_text() == "1 of 4 annotated"
    assert photos.step(+1)
    assert photos.current == 12
    photos.only_unannotated = True
    assert photos.step(+1)
    assert photos.current == 13
    assert photos.step(-1)
    assert photos.current == 11
    assert not photos.step(-1)
    photos.set_annotated(13, True)
    photos.set_annotated(14, True)
    assert photos.next_unannotated()
    assert photos.current == 11
    photos.set_annotated(11, True)
    assert not photos.next_unannotated()
    assert photos.progress_text() == "4 of 4 annotated"
    assert photos.position_text() == "Photo 1 of 4 · 0 not yet annotated"
    with pytest.raises(ValueError, match="no photos"):
        PhotoList([], [])


def test_photos_by_path_or_id_and_which_are_annotated(photo_rows: PhotoLibrary) -> None:
    api = photo_rows.stored()
    first, second, third = photo_rows.ids
    api.add_caption(second, "a cat")
    paths = [photo_rows.photos / "p0.jpg", photo_rows.photos / "missing.jpg", third, first]
    found, problems = resolve_photos(api, paths)
    assert [p.image_id for p in found] == [first, third]  # each photo once, in order
    assert len(problems) == 1
    assert "missing.jpg" in problems[0]
    assert annotated_ids(api, found) == set()
    assert folder_photos(api, [photo_rows.photos / "beach"]) == [second]
    assert folder_photos(api, [photo_rows.photos]) == [second, first, third]  # by path
    assert annotated_ids(api, [*found, api.photo(second)]) == {second}


def test_the_state_follows_every_change_and_its_undo(photo_rows: PhotoLibrary) -> None:
    api = photo_rows.stored()
    image_id = photo_rows.ids[0]
    api.add_box(photo_rows.ids[1], 1, 1, 5, 5, "elsewhere")  # another photo's box
    state = PhotoAnnotations.load(api, image_id)
    history = []

    def run(change: object) -> None:
        history.append(change)
        state.apply(change)  # type: ignore[arg-type]
        fresh = PhotoAnnotations.load(api, image_id)
        assert (state.boxes, state.captions, state.links) == (
            fresh.boxes,
            fresh.captions,
            fresh.links,
        )

    run(api.add_box(image_id, 10, 10, 30, 20, "cat"))
    box = next(iter(state.boxes))
    run(api.add_box(image_id, 50, 10, 30, 20, "dog", source="detector", score=0.5))
    suggestion = max(state.boxes)
    run(api.add_caption(image_id, "a cat and a dog"))
    caption = state.captions[0].id
    run(api.add_caption(image_id, "two pets", position=0))
    run(api.link_span(caption, 2, 5, box))
    run(api.reject([suggestion]))
    assert suggestion not in state.boxes  # a rejected suggestion is hidden
    run(api.edit_box(box, x=12, label="kitten"))
    run(api.move_caption(caption, 0))
    run(api.delete_box(box))  # takes its link along
    assert state.links == {}
    run(api.rename_label("kitten", "young cat"))
    for change in reversed(history):
        api.undo(change)
        touched = state.apply(change, undone=True)
        assert touched.anything
        fresh = PhotoAnnotations.load(api, image_id)
        assert (state.boxes, state.captions, state.links) == (
            fresh.boxes,
            fresh.captions,
            fresh.links,
        )
    assert not state.boxes
    assert not state.captions
    assert not state.annotated


def test_shortcut_table_defaults_overrides_and_conflicts() -> None:
    names = [a.name for a in SHORTCUT_ACTIONS]
    assert len(names) == len(set(names))
    defaults = bindings()
    assert conflicts(defaults) == []  # the defaults never clash
    assert defaults["annotate.next_photo"] == "D"
    keys = bindings({"annotate.next_photo": "Right", "annotate.gone_in_v2": "X"})
    assert keys["annotate.next_photo"] == "Right"
    assert "annotate.gone_in_v2" not in keys
    # Only what differs from the default is stored; "Shift+Ctrl+D" is the default, reordered.
    keys["annotate.next_unannotated"] = "Shift+Ctrl+D"
    keys["annotate.new_box"] = ""
    assert overrides_of(keys) == {"annotate.next_photo": "Right", "annotate.new_box": ""}
    keys["annotate.fit"] = "right"
    assert conflicts(keys) == [
        ("right", "Next photo", "Fit the photo in the window"),
    ]
    rows = help_rows(keys)
    assert ("Boxes", "Draw a new box", "—") in rows


def test_span_offsets_between_python_and_qt() -> None:
    text = "🐈 on a mat"
    assert to_utf16(text, 2) == 3  # the cat is two UTF-16 units
    assert from_utf16(text, 3) == 2
    assert from_utf16(text, 1) == 0  # mid-pair rounds down
    assert from_utf16(text, 99) == len(text)
    assert trimmed(" a red mat. ", 0, 12) == (1, 10)
