"""Annotations of library photos: captions, labelled boxes, detector suggestions, span links.

The flow of an edit, whoever makes it (the app's canvas, ``dclip annotate``, an import):

1. The caller names a photo by its image id; :class:`Annotations` looks up the photo's content
   hash, which is what every annotation row is keyed by (a moved or renamed photo keeps them, as
   it keeps its vectors; schema version 3, ADR 0021).
2. The operation checks its input (a box inside the EXIF-oriented photo, a non-empty caption, a
   span inside its caption) and raises :class:`AnnotationError` with one actionable line.
3. It writes in **one transaction** and returns a :class:`Change`: every row it touched, before
   and after. A process killed at any moment loses at most the edit in flight.
4. Undo is :meth:`Annotations.undo` of that change, redo :meth:`Annotations.redo`; both are one
   transaction too, and refuse (:class:`AnnotationConflictError`) when the rows are no longer as
   the change left them (someone else edited the photo meanwhile) instead of overwriting.

Threads: an :class:`Annotations` wraps one :class:`~dclip_core.library.store.LibraryStore` (one
SQLite connection), so each thread uses its own — :meth:`Library.annotations
<dclip_core.library.library.Library.annotations>` gives the calling thread's. Writes do not take the
library's writer lock: each is one short SQLite transaction, which SQLite serialises with the
indexer's batch commits (``busy_timeout``), so people can label while a folder is being indexed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from dclip_core.library.annotation_rows import (
    BOX_SOURCES,
    BOX_STATUSES,
    EDGE_TOLERANCE,
    MAX_CAPTION_CHARS,
    MAX_LABEL_CHARS,
    TABLES,
    AnnotatedPhoto,
    AnnotationConflictError,
    AnnotationError,
    Box,
    BoxSource,
    BoxStatus,
    Caption,
    Change,
    Edit,
    FolderProgress,
    Label,
    Photo,
    Row,
    RowChange,
    SpanLink,
    check_box,
    clean_text,
    delete_row,
    put_row,
    read_row,
    select_rows,
)
from dclip_core.library.store import ImageRecord, LibraryStore, like_prefix

# The row types and checks live in annotation_rows; importers keep naming them from here.
__all__ = [
    "BOX_SOURCES",
    "BOX_STATUSES",
    "EDGE_TOLERANCE",
    "MAX_CAPTION_CHARS",
    "MAX_LABEL_CHARS",
    "AnnotatedPhoto",
    "AnnotationConflictError",
    "AnnotationError",
    "Annotations",
    "Box",
    "BoxSource",
    "BoxStatus",
    "Caption",
    "Change",
    "Edit",
    "FolderProgress",
    "Label",
    "Photo",
    "Row",
    "RowChange",
    "SpanLink",
    "check_box",
    "clean_text",
]


# --- the API --------------------------------------------------------------------------------


class Annotations:
    """Read and edit the annotations of a library's photos (see the module docstring).

    Args:
        store: the calling thread's store (one SQLite connection).
    """

    def __init__(self, store: LibraryStore) -> None:
        self.store = store
        self.conn = store.conn

    @contextmanager
    def batch(self, what: str) -> Iterator[Edit]:
        """One write transaction collecting a :class:`Change` of many rows (``edit.change()``);
        imports and detector suggestions use it."""
        with self.store.write() as conn:
            yield Edit(conn, what)

    # --- photos ----------------------------------------------------------------------------------

    def photo(self, image_id: int) -> Photo:
        """The photo ``image_id`` if it can be annotated (indexed, readable), else raise."""
        return _annotatable(image_id, self.store.image(image_id))

    def photos(self, image_ids: Sequence[int]) -> list[Photo | AnnotationError]:
        """:meth:`photo` of many ids in one read, each the photo or why it cannot be annotated."""
        rows = self.store.images(image_ids)
        out: list[Photo | AnnotationError] = []
        for image_id in image_ids:
            try:
                out.append(_annotatable(image_id, rows.get(image_id)))
            except AnnotationError as exc:
                out.append(exc)
        return out

    def photo_by_path(self, path: str) -> Photo:
        row = self.store.image_by_path(path)
        if row is None:
            raise AnnotationError(f"{path} is not in the library; index its folder first")
        return self.photo(row.id)

    # --- reads -----------------------------------------------------------------------------------

    def labels(self) -> list[Label]:
        """Every label, in their stable order (the order they were first used)."""
        return [Label(*r) for r in self.conn.execute("SELECT id, name FROM labels ORDER BY id")]

    def captions(self, image_id: int) -> list[Caption]:
        return self.captions_of(self.photo(image_id).content_hash)

    def captions_of(self, content_hash: str) -> list[Caption]:
        rows = select_rows(
            self.conn, Caption, "content_hash = ? ORDER BY position, id", [content_hash]
        )
        return rows

    def boxes(
        self, image_id: int, statuses: Sequence[str] = ("accepted", "suggested")
    ) -> list[Box]:
        """The photo's boxes with these statuses, in the order they were made."""
        return self.boxes_of(self.photo(image_id).content_hash, statuses)

    def boxes_of(
        self, content_hash: str, statuses: Sequence[str] = ("accepted", "suggested")
    ) -> list[Box]:
        marks = ",".join("?" * len(statuses))
        rows = select_rows(
            self.conn,
            Box,
            f"content_hash = ? AND status IN ({marks}) ORDER BY id",
            [content_hash, *statuses],
        )
        return rows

    def links(self, image_id: int) -> list[SpanLink]:
        """The span links of the photo's captions."""
        return self.links_of(self.photo(image_id).content_hash)

    def links_of(self, content_hash: str) -> list[SpanLink]:
        rows = select_rows(
            self.conn,
            SpanLink,
            "caption_id IN (SELECT id FROM captions WHERE content_hash = ?) ORDER BY id",
            [content_hash],
        )
        return rows

    def annotated(self, folder: str | None = None) -> list[AnnotatedPhoto]:
        """Photos with a caption or an accepted box (under ``folder`` when given), by path.

        Copies of a photo (same content) each appear, with the same annotations.
        """
        where, args = _folder_filter(folder)
        rows = self.conn.execute(
            f"SELECT i.id, i.path, i.content_hash FROM images i WHERE {where} AND ("
            "EXISTS (SELECT 1 FROM captions c WHERE c.content_hash = i.content_hash) OR "
            "EXISTS (SELECT 1 FROM boxes b WHERE b.content_hash = i.content_hash "
            "AND b.status = 'accepted')) ORDER BY i.path",
            args,
        ).fetchall()
        out = []
        for image_id, path, content_hash in rows:
            out.append(
                AnnotatedPhoto(
                    path=Path(path),
                    image_id=image_id,
                    captions=[c.text for c in self.captions_of(content_hash)],
                    boxes=[
                        (*b.corners, b.label) for b in self.boxes_of(content_hash, ("accepted",))
                    ],
                )
            )
        return out

    def progress(self, folder: str | None = None) -> list[FolderProgress]:
        """Per folder (the photos' parent folders, under ``folder`` when given): counts."""
        where, args = _folder_filter(folder)
        sql = f"""
            SELECT folder, COUNT(*), SUM(captioned OR boxed), SUM(captioned), SUM(boxed),
                   SUM(suggested)
            FROM (SELECT i.folder AS folder,
                  EXISTS (SELECT 1 FROM captions c WHERE c.content_hash = i.content_hash)
                      AS captioned,
                  EXISTS (SELECT 1 FROM boxes b WHERE b.content_hash = i.content_hash
                          AND b.status = 'accepted') AS boxed,
                  (SELECT COUNT(*) FROM boxes b WHERE b.content_hash = i.content_hash
                          AND b.status = 'suggested') AS suggested
                  FROM images i WHERE {where})
            GROUP BY folder ORDER BY folder
        """
        return [FolderProgress(*row) for row in self.conn.execute(sql, args)]

    # --- captions --------------------------------------------------------------------------------

    def add_caption(self, image_id: int, text: str, position: int | None = None) -> Change:
        """Add a caption at ``position`` (default: last); later captions move down one."""
        photo = self.photo(image_id)
        cleaned = clean_text(text, "caption", MAX_CAPTION_CHARS)
        with self.store.write() as conn:
            edit = Edit(conn, "add caption")
            existing = self.captions_of(photo.content_hash)
            at = len(existing) if position is None else max(0, min(position, len(existing)))
            for caption in existing[at:]:
                edit.update(caption, replace(caption, position=caption.position + 1))
            edit.create(Caption(0, photo.content_hash, at, cleaned))
            return edit.change()

    def edit_caption(self, caption_id: int, text: str) -> Change:
        """Replace a caption's text; span links that no longer fit inside it are removed."""
        cleaned = clean_text(text, "caption", MAX_CAPTION_CHARS)
        with self.store.write() as conn:
            edit = Edit(conn, "edit caption")
            caption = self._caption(caption_id)
            for link in self._links_where("caption_id = ?", caption_id):
                if link.end > len(cleaned):
                    edit.delete(link)
            edit.update(caption, replace(caption, text=cleaned))
            return edit.change()

    def move_caption(self, caption_id: int, position: int) -> Change:
        """Move a caption to ``position`` among its photo's captions."""
        with self.store.write() as conn:
            edit = Edit(conn, "move caption")
            caption = self._caption(caption_id)
            order = [c for c in self.captions_of(caption.photo) if c.id != caption_id]
            order.insert(max(0, min(position, len(order))), caption)
            for index, row in enumerate(order):
                edit.update(row, replace(row, position=index))
            return edit.change()

    def delete_caption(self, caption_id: int) -> Change:
        """Delete a caption and its span links; later captions move up one."""
        with self.store.write() as conn:
            edit = Edit(conn, "delete caption")
            caption = self._caption(caption_id)
            for link in self._links_where("caption_id = ?", caption_id):
                edit.delete(link)
            edit.delete(caption)
            for later in self.captions_of(caption.photo):
                if later.position > caption.position:
                    edit.update(later, replace(later, position=later.position - 1))
            return edit.change()

    # --- boxes -----------------------------------------------------------------------------------

    def add_box(
        self,
        image_id: int,
        x: float,
        y: float,
        width: float,
        height: float,
        label: str,
        *,
        source: BoxSource = "user",
        score: float | None = None,
    ) -> Change:
        """Add a box; a ``detector`` box is a suggestion until accepted, others are accepted."""
        photo = self.photo(image_id)
        with self.store.write() as conn:
            edit = Edit(conn, "add box")
            self.add_box_in(edit, photo, (x, y, width, height), label, source=source, score=score)
            return edit.change()

    def add_box_in(
        self,
        edit: Edit,
        photo: Photo,
        box: tuple[object, object, object, object],
        label: object,
        *,
        source: str,
        status: str | None = None,
        score: float | None = None,
    ) -> Box:
        """Add a box inside an open edit (imports and suggestions add many in one transaction).

        ``status`` defaults to ``suggested`` for a detector's box, ``accepted`` otherwise.
        """
        if source not in BOX_SOURCES:
            raise AnnotationError(f"box source {source!r} is unknown; use one of {BOX_SOURCES}")
        bx, by, bw, bh = check_box(*box, photo.width, photo.height)
        name = clean_text(label, "box label", MAX_LABEL_CHARS)
        status = status or ("suggested" if source == "detector" else "accepted")
        if status not in BOX_STATUSES or (status != "accepted" and source != "detector"):
            raise AnnotationError(f"a {source} box cannot be {status}; only suggestions can")
        if status == "accepted":
            self.ensure_label(edit, name)
        created = edit.create(
            Box(0, photo.content_hash, bx, by, bw, bh, name, source, status, score)
        )
        assert isinstance(created, Box)
        return created

    def edit_box(
        self,
        box_id: int,
        *,
        x: float | None = None,
        y: float | None = None,
        width: float | None = None,
        height: float | None = None,
        label: str | None = None,
    ) -> Change:
        """Move, resize or relabel a box (only the given fields change)."""
        with self.store.write() as conn:
            edit = Edit(conn, "edit box")
            box = self._box(box_id)
            photo = self._photo_of(box.photo)
            bx, by, bw, bh = check_box(
                box.x if x is None else x,
                box.y if y is None else y,
                box.width if width is None else width,
                box.height if height is None else height,
                photo.width,
                photo.height,
            )
            name = box.label if label is None else clean_text(label, "box label", MAX_LABEL_CHARS)
            if box.status == "accepted":
                self.ensure_label(edit, name)
            edit.update(box, replace(box, x=bx, y=by, width=bw, height=bh, label=name))
            return edit.change()

    def delete_box(self, box_id: int) -> Change:
        """Delete a box and the span links naming it (its label stays in the label list)."""
        with self.store.write() as conn:
            edit = Edit(conn, "delete box")
            box = self._box(box_id)
            for link in self._links_where("box_id = ?", box_id):
                edit.delete(link)
            edit.delete(box)
            return edit.change()

    def accept(self, box_ids: Iterable[int], label: str | None = None) -> Change:
        """Accept suggested (or earlier rejected) boxes, optionally under another label."""
        return self._review(box_ids, "accepted", label)

    def reject(self, box_ids: Iterable[int]) -> Change:
        """Reject suggestions: they stay stored (hidden), so re-running the detector does not
        bring them back."""
        return self._review(box_ids, "rejected", None)

    def suggestions(self, image_id: int, min_score: float = 0.0) -> list[Box]:
        """The photo's boxes waiting for review with at least ``min_score``."""
        return [
            b
            for b in self.boxes(image_id, ("suggested",))
            if b.score is None or b.score >= min_score
        ]

    def _review(self, box_ids: Iterable[int], status: str, label: str | None) -> Change:
        name = None if label is None else clean_text(label, "box label", MAX_LABEL_CHARS)
        with self.store.write() as conn:
            edit = Edit(conn, "accept boxes" if status == "accepted" else "reject boxes")
            for box_id in box_ids:
                box = self._box(box_id)
                if box.source != "detector":
                    raise AnnotationError(
                        f"box {box_id} was drawn or imported, not suggested; delete it instead"
                    )
                new_label = name or box.label
                if status == "accepted":
                    self.ensure_label(edit, new_label)
                edit.update(box, replace(box, status=status, label=new_label))
            return edit.change()

    # --- span links ------------------------------------------------------------------------------

    def link_span(self, caption_id: int, start: int, end: int, box_id: int) -> Change:
        """Link characters ``[start, end)`` of a caption to a box of the same photo."""
        with self.store.write() as conn:
            edit = Edit(conn, "link span")
            caption = self._caption(caption_id)
            box = self._box(box_id)
            if box.photo != caption.photo:
                raise AnnotationError("a caption can only name a box of its own photo")
            if not (0 <= start < end <= len(caption.text)):
                raise AnnotationError(
                    f"span {start}..{end} is not inside the caption ({len(caption.text)} "
                    "characters); select words of the caption"
                )
            for link in self._links_where("caption_id = ?", caption_id):
                if (link.start, link.end, link.box_id) == (start, end, box_id):
                    return edit.change()  # already linked: nothing to do
            edit.create(SpanLink(0, caption_id, start, end, box_id))
            return edit.change()

    def unlink_span(self, link_id: int) -> Change:
        with self.store.write() as conn:
            edit = Edit(conn, "unlink span")
            link = read_row(conn, SpanLink, link_id)
            if link is None:
                raise AnnotationError(f"span link {link_id} does not exist (already removed)")
            edit.delete(link)
            return edit.change()

    # --- labels ----------------------------------------------------------------------------------

    def add_label(self, name: str) -> Change:
        """Add a label to the list (at its end) even before any box uses it."""
        with self.store.write() as conn:
            edit = Edit(conn, "add label")
            self.ensure_label(edit, clean_text(name, "label", MAX_LABEL_CHARS))
            return edit.change()

    def rename_label(self, old: str, new: str) -> Change:
        """Rename a label everywhere (it keeps its place in the order); refuses merging two."""
        name = clean_text(new, "label", MAX_LABEL_CHARS)
        with self.store.write() as conn:
            edit = Edit(conn, "rename label")
            rows = select_rows(conn, Label, "name = ?", [old])
            if not rows:
                raise AnnotationError(f"there is no label {old!r}; see the label list")
            if name != old and select_rows(conn, Label, "name = ?", [name]):
                raise AnnotationError(f"label {name!r} exists already; relabel the boxes instead")
            edit.update(rows[0], replace(rows[0], name=name))
            for box in select_rows(conn, Box, "label = ?", [old]):
                edit.update(box, replace(box, label=name))
            return edit.change()

    # --- undo / redo -----------------------------------------------------------------------------

    def undo(self, change: Change) -> None:
        """Put back every row as it was before ``change`` (one transaction).

        Raises:
            AnnotationConflictError: a row is no longer as ``change`` left it.
        """
        with self.store.write() as conn:
            for row in reversed(change.rows):
                self._swap(conn, expect=row.after, put=row.before, what=change.what)

    def redo(self, change: Change) -> None:
        """Apply ``change`` again after :meth:`undo` (one transaction)."""
        with self.store.write() as conn:
            for row in change.rows:
                self._swap(conn, expect=row.before, put=row.after, what=change.what)

    def _swap(
        self, conn: sqlite3.Connection, expect: Row | None, put: Row | None, what: str
    ) -> None:
        some = expect if expect is not None else put
        assert some is not None
        table, columns = TABLES[type(some)]
        found = conn.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE id = ?", (some.id,)
        ).fetchone()
        current = type(some)(*found) if found else None
        if current != expect:
            raise AnnotationConflictError(
                f"cannot undo or redo '{what}': the photo's annotations changed since "
                "(another window or command edited them); reload the photo"
            )
        if put is None:
            delete_row(conn, some)
        else:
            put_row(conn, put)

    # --- helpers ---------------------------------------------------------------------------------

    def _caption(self, caption_id: int) -> Caption:
        row = read_row(self.conn, Caption, caption_id)
        if row is None:
            raise AnnotationError(f"caption {caption_id} does not exist (deleted meanwhile?)")
        return row

    def _box(self, box_id: int) -> Box:
        row = read_row(self.conn, Box, box_id)
        if row is None:
            raise AnnotationError(f"box {box_id} does not exist (deleted meanwhile?)")
        return row

    def _links_where(self, where: str, row_id: int) -> list[SpanLink]:
        rows = select_rows(self.conn, SpanLink, f"{where} ORDER BY id", [row_id])
        return rows

    def _photo_of(self, content_hash: str) -> Photo:
        rows = self.store.images_with_hash(content_hash)
        if not rows:
            raise AnnotationError("the photo of this box is no longer in the library")
        return self.photo(rows[0].id)

    def ensure_label(self, edit: Edit, name: str) -> None:
        """Add ``name`` at the end of the label list inside ``edit`` unless it is there."""
        if not edit.conn.execute("SELECT 1 FROM labels WHERE name = ?", (name,)).fetchone():
            edit.create(Label(0, name))


def _annotatable(image_id: int, row: ImageRecord | None) -> Photo:
    if row is None:
        raise AnnotationError(
            f"photo {image_id} is not in the library (it was removed or changed); "
            "reopen it from the library"
        )
    if row.status != "ok" or not row.content_hash or not row.width or not row.height:
        raise AnnotationError(
            f"{row.path} could not be read when indexed ({row.error or row.error_code}); "
            "fix the file and index again before annotating it"
        )
    return Photo(row.id, row.path, row.content_hash, row.width, row.height)


def _folder_filter(folder: str | None) -> tuple[str, list[object]]:
    where = "i.status = 'ok' AND i.content_hash IS NOT NULL"
    if folder is None:
        return where, []
    return (
        where + " AND (i.folder = ? OR i.folder LIKE ? ESCAPE '\\')",
        [folder.rstrip("/\\") or folder, like_prefix(folder)],
    )
