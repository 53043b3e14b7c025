"""The rows of the annotation tables, and the one-transaction edit that writes them.

:mod:`dclip_core.library.annotations` is the API people use; this module holds what it is built
from: the row types (:class:`Caption`, :class:`Box`, :class:`SpanLink`, :class:`Label`), what an
edit returns (:class:`Change`), the checks every write passes (:func:`clean_text`,
:func:`check_box`), the table mapping and :class:`Edit`, which writes each row as it records it
so that undo and redo can replay exactly the rows an edit touched.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal, TypeVar

from dclip_core.errors import LibraryError

BoxSource = Literal["user", "detector", "imported"]
BoxStatus = Literal["accepted", "suggested", "rejected"]
BOX_SOURCES: tuple[str, ...] = ("user", "detector", "imported")
BOX_STATUSES: tuple[str, ...] = ("accepted", "suggested", "rejected")

MAX_CAPTION_CHARS = 10_000
MAX_LABEL_CHARS = 200
# Pixel coordinates may carry float noise from a detector or another tool's export.
EDGE_TOLERANCE = 1e-3


class AnnotationError(LibraryError):
    """An annotation edit or import the library cannot apply as asked."""


class AnnotationConflictError(AnnotationError):
    """An undo or redo found the photo's annotations changed since the edit it reverses."""


@dataclass(frozen=True)
class Label:
    """A box label; ``id`` order is the stable label order (COCO category order)."""

    id: int
    name: str


@dataclass(frozen=True)
class Caption:
    """One caption of a photo; ``position`` 0, 1, … is the order of the photo's captions."""

    id: int
    photo: str  # the photo's content hash
    position: int
    text: str


@dataclass(frozen=True)
class Box:
    """A labelled box in pixels of the EXIF-oriented photo (``x``, ``y`` top left)."""

    id: int
    photo: str
    x: float
    y: float
    width: float
    height: float
    label: str
    source: str  # one of BOX_SOURCES
    status: str  # one of BOX_STATUSES
    score: float | None = None

    @property
    def corners(self) -> tuple[float, float, float, float]:
        """``(x1, y1, x2, y2)``."""
        return (self.x, self.y, self.x + self.width, self.y + self.height)


@dataclass(frozen=True)
class SpanLink:
    """Characters ``[start, end)`` of a caption name a box."""

    id: int
    caption_id: int
    start: int
    end: int
    box_id: int


Row = Label | Caption | Box | SpanLink
R = TypeVar("R", Label, Caption, Box, SpanLink)


@dataclass(frozen=True)
class RowChange:
    """One row before and after an edit: ``before`` None = created, ``after`` None = deleted."""

    before: Row | None
    after: Row | None


@dataclass(frozen=True)
class Change:
    """What one operation did, in order; enough to undo and redo it."""

    what: str
    rows: tuple[RowChange, ...]

    def created(self) -> list[Row]:
        return [r.after for r in self.rows if r.before is None and r.after is not None]

    def deleted(self) -> list[Row]:
        return [r.before for r in self.rows if r.after is None and r.before is not None]

    def first_created(self) -> Row:
        """The main new row of an ``add_*`` (the caption, the box, the link)."""
        created = [r for r in self.created() if not isinstance(r, Label)]
        if not created:
            raise ValueError(f"{self.what} created no row")
        return created[0]


@dataclass(frozen=True)
class Photo:
    """The library's facts about a photo that annotations need."""

    image_id: int
    path: str
    content_hash: str
    width: int
    height: int


@dataclass(frozen=True)
class AnnotatedPhoto:
    """A photo with its captions and accepted boxes (what training reads: ``read_annotations``)."""

    path: Path
    image_id: int
    captions: list[str]
    boxes: list[tuple[float, float, float, float, str]]


@dataclass(frozen=True)
class FolderProgress:
    """How far the labelling of one folder is."""

    folder: str
    photos: int
    annotated: int  # with a caption or an accepted box
    captioned: int
    boxed: int  # with an accepted box
    suggested: int  # detector boxes waiting for review


# --- rows and tables ------------------------------------------------------------------------

TABLES: dict[type, tuple[str, tuple[str, ...]]] = {
    Label: ("labels", ("id", "name")),
    Caption: ("captions", ("id", "content_hash", "position", "text")),
    Box: (
        "boxes",
        ("id", "content_hash", "x", "y", "width", "height", "label", "source", "status", "score"),
    ),
    SpanLink: ("caption_links", ("id", "caption_id", "span_start", "span_end", "box_id")),
}


def row_values(row: Row) -> tuple[object, ...]:
    return tuple(getattr(row, f.name) for f in fields(row))


def read_row(conn: sqlite3.Connection, kind: type[R], row_id: int) -> R | None:
    table, columns = TABLES[kind]
    found = conn.execute(
        f"SELECT {', '.join(columns)} FROM {table} WHERE id = ?", (row_id,)
    ).fetchone()
    return kind(*found) if found else None


def select_rows(
    conn: sqlite3.Connection, kind: type[R], where: str, args: Sequence[object]
) -> list[R]:
    table, columns = TABLES[kind]
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {where}"
    return [kind(*r) for r in conn.execute(sql, tuple(args))]


def put_row(conn: sqlite3.Connection, row: Row) -> None:
    """Insert ``row`` under its id, or update the row with that id in place.

    An upsert, not ``INSERT OR REPLACE``: a replace deletes first, which would cascade to the
    caption links of a caption or box. Ids are AUTOINCREMENT, so a deleted id is never handed to
    another row and an undone delete comes back under its old id (links and the app's references
    stay valid).
    """
    table, columns = TABLES[type(row)]
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
    conn.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT(id) DO UPDATE SET {updates}",
        row_values(row),
    )


def delete_row(conn: sqlite3.Connection, row: Row) -> None:
    conn.execute(f"DELETE FROM {TABLES[type(row)][0]} WHERE id = ?", (row.id,))


def insert_row(conn: sqlite3.Connection, row: R) -> R:
    """Insert a new row (its ``id`` is ignored) and return it with the id SQLite gave it."""
    table, columns = TABLES[type(row)]
    cursor = conn.execute(
        f"INSERT INTO {table} ({', '.join(columns[1:])}) "
        f"VALUES ({', '.join('?' * (len(columns) - 1))})",
        row_values(row)[1:],
    )
    assert cursor.lastrowid is not None
    return replace(row, id=int(cursor.lastrowid))


class Edit:
    """Collects the row changes of one transaction, writing each as it is recorded."""

    def __init__(self, conn: sqlite3.Connection, what: str) -> None:
        self.conn = conn
        self.what = what
        self.rows: list[RowChange] = []

    def create(self, row: R) -> R:
        stored = insert_row(self.conn, row)
        self.rows.append(RowChange(None, stored))
        return stored

    def update(self, before: Row, after: Row) -> None:
        if before != after:
            put_row(self.conn, after)
            self.rows.append(RowChange(before, after))

    def delete(self, row: Row) -> None:
        delete_row(self.conn, row)
        self.rows.append(RowChange(row, None))

    def change(self) -> Change:
        return Change(self.what, tuple(self.rows))


# --- checks ---------------------------------------------------------------------------------


def clean_text(text: object, what: str, limit: int) -> str:
    """A stripped, non-empty string of at most ``limit`` characters, else AnnotationError."""
    if not isinstance(text, str):
        raise AnnotationError(f"{what} must be text, not {type(text).__name__}")
    cleaned = text.strip()
    if not cleaned:
        raise AnnotationError(f"{what} is empty; type some text")
    if len(cleaned) > limit:
        raise AnnotationError(f"{what} has {len(cleaned)} characters; at most {limit} are kept")
    if any(ord(c) < 32 and c not in "\t\n" for c in cleaned):
        raise AnnotationError(f"{what} contains control characters; remove them")
    return cleaned


def check_box(
    x: object, y: object, width: object, height: object, photo_width: int, photo_height: int
) -> tuple[float, float, float, float]:
    """``(x, y, width, height)`` as floats when they are a box inside the photo, else raise.

    Zero-width or zero-height boxes are kept (other tools export them); negative sizes, numbers
    that are not finite, and boxes reaching outside the photo are refused.
    """
    numbers = []
    for name, value in (("x", x), ("y", y), ("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AnnotationError(f"box {name} must be a number, not {type(value).__name__}")
        number = float(value)
        if not math.isfinite(number):
            raise AnnotationError(f"box {name} is {value}; give a finite pixel coordinate")
        numbers.append(number)
    bx, by, bw, bh = numbers
    if bw < 0 or bh < 0:
        raise AnnotationError(f"box size {bw:g}x{bh:g} is negative; width and height are >= 0")
    if (
        bx < -EDGE_TOLERANCE
        or by < -EDGE_TOLERANCE
        or bx + bw > photo_width + EDGE_TOLERANCE
        or by + bh > photo_height + EDGE_TOLERANCE
    ):
        raise AnnotationError(
            f"box ({bx:g}, {by:g}, {bw:g}x{bh:g}) reaches outside the {photo_width}x"
            f"{photo_height} photo; boxes are in pixels of the upright photo"
        )
    return bx, by, bw, bh
