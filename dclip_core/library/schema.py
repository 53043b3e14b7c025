"""The library database: connection settings, schema and its migrations.

SQLite in WAL mode is the source of truth of a library; everything else (the hnswlib files,
thumbnails) is derived from it and can be rebuilt. The schema version lives in the
``schema_version`` table; :data:`MIGRATIONS` upgrades an older database step by step, each step
in one transaction, so a crash during an upgrade leaves the previous version intact.

Tables (version 1):

``roots``          the folders the user added.
``images``         one row per file found: absolute ``path`` (unique), parent ``folder``, ``size``
                   and ``mtime_ns`` (what the scanner compares), ``content_hash`` (recognises moved
                   files), pixel ``width``/``height``, ``taken_at`` (ISO local time, from EXIF or
                   mtime) and ``status`` ``ok`` or ``failed`` with ``error_code``/``error``.
``models``         one row per model bundle, keyed by its ``fingerprint``; ``revision`` counts the
                   changes to its embeddings; ``completed_at`` is set once every usable image
                   has one.
``embeddings``     one float32 vector per (model, image).
``embedding_log``  (model, revision) -> image added (+1) or removed (-1): lets a saved ANN index
                   catch up with the database without a full rebuild.
``library_state``  small key/value facts, e.g. ``active_model`` (the fingerprint searches use).

Version 2 adds ``models.regions``: the region layout of the model's vectors
(:mod:`dclip_core.library.regions`); ``none`` — one vector per image — for every older row.

Version 3 adds the annotations (:mod:`dclip_core.library.annotations`, ADR 0021), keyed by the
photo's ``content_hash`` — not its image id or path — so a moved, renamed or re-added photo keeps
them, and a photo that leaves the library leaves its annotations waiting for its return:

``labels``         the box label vocabulary; ``id`` order is the stable label (COCO category) order.
``captions``       several per photo, ``position`` 0, 1, … their order.
``boxes``          ``x``, ``y``, ``width``, ``height`` in pixels of the EXIF-oriented photo, a
                   ``label``, the ``source`` (``user``, ``detector``, ``imported``), the ``status``
                   (``accepted``; ``suggested`` or ``rejected`` for a detector's box) and its
                   ``score``.
``caption_links``  a character span ``[span_start, span_end)`` of a caption naming a box.

Ids of ``images`` are AUTOINCREMENT so that an id is never reused: ids are the ANN labels, and a
deleted label must never come back as another photo.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dclip_core.errors import LibraryError

DB_FILE_NAME = "library.sqlite3"
PAGE_SIZE = 16384

_V1 = """
CREATE TABLE roots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    added_at REAL NOT NULL,
    last_indexed_at REAL
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    root_id INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
    path TEXT NOT NULL UNIQUE,
    folder TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_hash TEXT,
    width INTEGER,
    height INTEGER,
    taken_at TEXT,
    taken_source TEXT,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error_code TEXT,
    error TEXT,
    indexed_at REAL NOT NULL
);
CREATE INDEX images_root ON images(root_id);
CREATE INDEX images_hash ON images(content_hash);
CREATE INDEX images_folder ON images(folder);
CREATE INDEX images_taken ON images(taken_at);
CREATE INDEX images_status ON images(status);
CREATE TABLE models (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    embed_dim INTEGER NOT NULL,
    bundle_path TEXT,
    revision INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    completed_at REAL
);
CREATE TABLE embeddings (
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_id, image_id)
);
CREATE INDEX embeddings_image ON embeddings(image_id);
CREATE TABLE embedding_log (
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    revision INTEGER NOT NULL,
    image_id INTEGER NOT NULL,
    op INTEGER NOT NULL CHECK (op IN (1, -1)),
    PRIMARY KEY (model_id, revision)
);
CREATE TABLE library_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def _migrate_to_v1(conn: sqlite3.Connection) -> None:
    # executescript() would COMMIT the surrounding transaction, so run the statements one by one.
    for statement in _V1.split(";"):
        if statement.strip():
            conn.execute(statement)


def _migrate_to_v2(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE models ADD COLUMN regions TEXT NOT NULL DEFAULT 'none'")


_V3 = """
CREATE TABLE labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE captions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    content_hash TEXT NOT NULL,
    position INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX captions_photo ON captions(content_hash, position);
CREATE TABLE boxes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    content_hash TEXT NOT NULL,
    x REAL NOT NULL,
    y REAL NOT NULL,
    width REAL NOT NULL CHECK (width >= 0),
    height REAL NOT NULL CHECK (height >= 0),
    label TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('user', 'detector', 'imported')),
    status TEXT NOT NULL CHECK (status IN ('accepted', 'suggested', 'rejected')),
    score REAL
);
CREATE INDEX boxes_photo ON boxes(content_hash);
CREATE INDEX boxes_status ON boxes(status);
CREATE TABLE caption_links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    caption_id INTEGER NOT NULL REFERENCES captions(id) ON DELETE CASCADE,
    span_start INTEGER NOT NULL CHECK (span_start >= 0),
    span_end INTEGER NOT NULL CHECK (span_end > span_start),
    box_id INTEGER NOT NULL REFERENCES boxes(id) ON DELETE CASCADE,
    UNIQUE (caption_id, span_start, span_end, box_id)
);
CREATE INDEX caption_links_box ON caption_links(box_id)
"""


def _migrate_to_v3(conn: sqlite3.Connection) -> None:
    for statement in _V3.split(";"):
        if statement.strip():
            conn.execute(statement)


# (target version, step). Append new steps; never edit a released one.
MIGRATIONS: list[tuple[int, Callable[[sqlite3.Connection], None]]] = [
    (1, _migrate_to_v1),
    (2, _migrate_to_v2),
    (3, _migrate_to_v3),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def connect(db_path: Path) -> sqlite3.Connection:
    """Open the database in autocommit mode (transactions are explicit, see :func:`transaction`).

    WAL lets searches read while the indexer writes; ``synchronous=NORMAL`` keeps every committed
    transaction across a process kill (only a power cut may lose the last ones, never corrupt).
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    new = not db_path.exists() or db_path.stat().st_size == 0
    try:
        conn = sqlite3.connect(db_path, isolation_level=None, timeout=30.0, check_same_thread=False)
        if new:
            # A 512-d float32 vector is a 2 KiB row: with the default 4 KiB pages only one fits
            # per page (4.8 GB for 1M vectors, measured); 16 KiB pages hold seven. Must be set
            # before the first table is created.
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
    except sqlite3.DatabaseError as exc:
        raise LibraryError(
            f"library database {db_path} cannot be opened ({exc}); move it aside to start a new "
            "library (photos are not touched), or restore it from a backup"
        ) from exc
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back if the block raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    """The version of an open database; 0 for a new, empty one."""
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'"
    ).fetchone()
    if row is None:
        return 0
    found = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(found[0]) if found else 0


def migrate(conn: sqlite3.Connection, db_path: Path) -> int:
    """Bring the database up to :data:`SCHEMA_VERSION`; returns the version it started from.

    Raises:
        LibraryError: the database is newer than this program, or is not a DCLIP library.
    """
    try:
        start = schema_version(conn)
        if start > SCHEMA_VERSION:
            raise LibraryError(
                f"library {db_path} has schema version {start}, newer than this DCLIP understands "
                f"({SCHEMA_VERSION}); upgrade DCLIP"
            )
        if start == SCHEMA_VERSION:
            return start
        with transaction(conn):
            # Re-read inside the write lock: another process may have migrated meanwhile.
            current = schema_version(conn)
            if current == 0:
                conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            for target, step in MIGRATIONS:
                if target > current:
                    step(conn)
                    conn.execute("UPDATE schema_version SET version = ?", (target,))
        return start
    except sqlite3.DatabaseError as exc:
        raise LibraryError(
            f"library database {db_path} is unreadable ({exc}); move it aside to start a new "
            "library (photos are not touched), or restore it from a backup"
        ) from exc
