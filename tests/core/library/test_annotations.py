"""Annotations: every operation survives a reopen of the database, undoes and redoes exactly,
follows a moved photo, and refuses what a user could not mean."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from dclip_core.library import Library
from dclip_core.library.annotations import (
    AnnotationConflictError,
    AnnotationError,
    Annotations,
    Box,
    Caption,
    SpanLink,
)
from dclip_core.library.schema import DB_FILE_NAME, MIGRATIONS, SCHEMA_VERSION, connect
from dclip_core.library.store import LibraryStore
from dclip_core.runtime.encoders import ClipEncoder
from tests.helpers.images import sample_photo
from tests.helpers.photo_rows import photo_library


def _photo_library(tmp_path: Path, count: int = 3) -> tuple[Path, list[int]]:
    ids = photo_library(tmp_path / "photos", tmp_path / "library", count)
    return tmp_path / "library", ids


def _reopen(library_dir: Path) -> Annotations:
    return Annotations(LibraryStore(library_dir))


def test_every_operation_is_stored_and_survives_a_reopen(tmp_path: Path) -> None:
    library_dir, (first, second, _) = _photo_library(tmp_path)
    api = _reopen(library_dir)
    api.add_caption(first, "a woman in a space suit")
    api.add_caption(first, "an astronaut", position=0)
    box = api.add_box(first, 10, 20, 50.5, 30.25, "person").first_created()
    suggestion = api.add_box(first, 0, 0, 5, 5, "helmet", source="detector", score=0.6)
    caption = _reopen(library_dir).captions(first)[1]
    assert isinstance(box, Box)
    assert isinstance(caption, Caption)
    link = api.link_span(caption.id, 2, 7, box.id).first_created()
    assert isinstance(link, SpanLink)

    again = _reopen(library_dir)
    assert [c.text for c in again.captions(first)] == ["an astronaut", "a woman in a space suit"]
    assert [(b.x, b.y, b.width, b.height, b.label, b.status) for b in again.boxes(first)] == [
        (10.0, 20.0, 50.5, 30.25, "person", "accepted"),
        (0.0, 0.0, 5.0, 5.0, "helmet", "suggested"),
    ]
    assert [(k.start, k.end) for k in again.links(first)] == [(2, 7)]
    assert [label.name for label in again.labels()] == ["person"]  # suggestions add no label
    assert again.captions(second) == []

    api.edit_caption(caption.id, "a woman")  # the span 2..7 still fits
    api.move_caption(caption.id, 0)
    api.edit_box(box.id, x=12, label="astronaut")
    api.accept([suggestion.first_created().id])
    again = _reopen(library_dir)
    assert [c.text for c in again.captions(first)] == ["a woman", "an astronaut"]
    assert [(b.x, b.label) for b in again.boxes(first)] == [(12.0, "astronaut"), (0.0, "helmet")]
    assert [label.name for label in again.labels()] == ["person", "astronaut", "helmet"]

    api.delete_box(box.id)  # takes its span link with it
    api.delete_caption(caption.id)
    again = _reopen(library_dir)
    assert [(c.text, c.position) for c in again.captions(first)] == [("an astronaut", 0)]
    assert [b.label for b in again.boxes(first)] == ["helmet"]
    assert again.links(first) == []
    progress = {p.folder.rsplit("/", 1)[-1]: p for p in again.progress()}
    assert (progress["photos"].photos, progress["photos"].annotated) == (2, 1)
    assert (progress["beach"].photos, progress["beach"].annotated) == (1, 0)
    assert [p.path.name for p in again.annotated()] == ["p0.jpg"]


def test_undo_and_redo_put_back_exactly_what_an_edit_changed(tmp_path: Path) -> None:
    library_dir, (first, *_) = _photo_library(tmp_path)
    api = _reopen(library_dir)
    for text in ("one", "two", "three"):
        api.add_caption(first, text)
    box = api.add_box(first, 1, 2, 3, 4, "cat").first_created()
    two = api.captions(first)[1]
    api.link_span(two.id, 0, 3, box.id)

    def state(annotations: Annotations) -> tuple[object, ...]:
        return (
            annotations.captions(first),
            annotations.boxes(first, ("accepted", "suggested", "rejected")),
            annotations.links(first),
            annotations.labels(),
        )

    edits = [
        lambda: api.delete_caption(two.id),
        lambda: api.delete_box(box.id),
        lambda: api.move_caption(two.id, 2),
        lambda: api.edit_caption(two.id, "t"),  # drops the link that no longer fits
        lambda: api.rename_label("cat", "kitten"),
        lambda: api.add_caption(first, "zero", position=0),
    ]
    for make_edit in edits:
        before = state(api)
        change = make_edit()
        after = state(api)
        assert after != before
        _reopen(library_dir).undo(change)  # another connection: what the app's writer thread does
        assert state(_reopen(library_dir)) == before
        api.redo(change)
        assert state(_reopen(library_dir)) == after
        api.undo(change)
        assert state(api) == before

    change = api.edit_caption(two.id, "second")
    api.edit_caption(two.id, "someone else's edit")
    with pytest.raises(AnnotationConflictError, match="changed since"):
        api.undo(change)
    assert api.captions(first)[1].text == "someone else's edit"


def test_edits_refuse_what_cannot_be_meant(tmp_path: Path) -> None:
    library_dir, (first, *_) = _photo_library(tmp_path)  # photo 0 is 200x100
    api = _reopen(library_dir)
    with pytest.raises(AnnotationError, match="outside the 200x100 photo"):
        api.add_box(first, 150, 10, 60, 10, "cat")
    with pytest.raises(AnnotationError, match="negative"):
        api.add_box(first, 10, 10, -1, 10, "cat")
    with pytest.raises(AnnotationError, match="finite"):
        api.add_box(first, float("nan"), 10, 1, 10, "cat")
    with pytest.raises(AnnotationError, match="empty"):
        api.add_caption(first, "   ")
    with pytest.raises(AnnotationError, match="not in the library"):
        api.add_caption(9999, "ghost")
    caption = api.add_caption(first, "a cat").first_created()
    box = api.add_box(first, 0, 0, 200, 100, "cat").first_created()  # the whole photo is fine
    with pytest.raises(AnnotationError, match="not inside the caption"):
        api.link_span(caption.id, 3, 9, box.id)
    with pytest.raises(AnnotationError, match="not suggested"):
        api.reject([box.id])
    assert api.add_box(first, 5, 5, 0, 0, "point").first_created()  # zero-area boxes are kept


def test_many_photos_are_read_at_once_each_with_its_answer(tmp_path: Path) -> None:
    library_dir, ids = _photo_library(tmp_path)
    api = _reopen(library_dir)
    answers = api.photos([ids[2], 9999, ids[0]])
    assert answers[0] == api.photo(ids[2])
    assert isinstance(answers[1], AnnotationError)
    assert "not in the library" in str(answers[1])
    assert answers[2] == api.photo(ids[0])


def test_rejected_suggestions_stay_hidden(tmp_path: Path) -> None:
    library_dir, (first, *_) = _photo_library(tmp_path)
    api = _reopen(library_dir)
    weak = api.add_box(first, 0, 0, 9, 9, "dog", source="detector", score=0.3).first_created()
    api.add_box(first, 1, 1, 9, 9, "dog", source="detector", score=0.9)
    api.reject([weak.id])
    assert [b.score for b in api.suggestions(first)] == [0.9]
    assert [b.status for b in api.boxes(first, ("rejected",))] == ["rejected"]


def test_annotations_follow_the_photo_content_not_its_path(
    tmp_path: Path, tiny_encoder: ClipEncoder
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    sample_photo("coffee").save(photos / "coffee.jpg")
    library = Library(tmp_path / "library")
    library.index([photos], encoder=tiny_encoder)
    image = library.image_by_path(photos / "coffee.jpg")
    assert image is not None
    library.annotations().add_caption(image.id, "a cup of coffee")
    (photos / "kitchen").mkdir()
    shutil.move(photos / "coffee.jpg", photos / "kitchen" / "renamed.jpg")
    library.index(encoder=tiny_encoder)
    moved = library.image_by_path(photos / "kitchen" / "renamed.jpg")
    assert moved is not None
    assert [c.text for c in library.annotations().captions(moved.id)] == ["a cup of coffee"]
    # Gone from the library and back later (another drive, a restore): the caption waits for it.
    shutil.move(photos / "kitchen" / "renamed.jpg", tmp_path / "away.jpg")
    library.index(encoder=tiny_encoder)
    assert library.annotations().annotated() == []
    shutil.move(tmp_path / "away.jpg", photos / "back.jpg")
    library.index(encoder=tiny_encoder)
    back = library.image_by_path(photos / "back.jpg")
    assert back is not None
    assert [c.text for c in library.annotations().captions(back.id)] == ["a cup of coffee"]
    library.close()


def test_a_library_of_the_previous_release_gains_empty_annotation_tables(tmp_path: Path) -> None:
    library_dir, ids = _photo_library(tmp_path)
    db = library_dir / DB_FILE_NAME
    raw = sqlite3.connect(db)
    for table in ("caption_links", "boxes", "captions", "labels"):
        raw.execute(f"DROP TABLE {table}")
    raw.execute("UPDATE schema_version SET version = 2")
    raw.commit()
    raw.close()
    # The rolled-back file has exactly the schema version 2 creates.
    reference = connect(tmp_path / "v2" / DB_FILE_NAME)
    for _target, step in MIGRATIONS[:2]:
        step(reference)
    tables = "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY 2"
    rolled_back = sqlite3.connect(db)
    assert rolled_back.execute(tables).fetchall() == [
        row for row in reference.execute(tables).fetchall() if row[1] != "schema_version"
    ] + [("table", "schema_version", "CREATE TABLE schema_version (version INTEGER NOT NULL)")]
    rolled_back.close()

    api = _reopen(library_dir)
    assert api.conn.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    assert len(api.store.images(ids)) == 3  # the photos are kept
    api.add_caption(ids[0], "migrated")
    assert [c.text for c in _reopen(library_dir).captions(ids[0])] == ["migrated"]
