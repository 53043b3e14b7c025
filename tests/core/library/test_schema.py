"""The library database: created with its schema and page size, refuses what it cannot read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dclip_core.errors import LibraryError
from dclip_core.library.schema import (
    DB_FILE_NAME,
    PAGE_SIZE,
    SCHEMA_VERSION,
    schema_version,
)
from dclip_core.library.store import LibraryStore


def test_new_library_has_current_schema_wal_and_large_pages(tmp_path: Path) -> None:
    store = LibraryStore(tmp_path)
    conn = store.conn
    assert schema_version(conn) == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA page_size").fetchone() == (PAGE_SIZE,)
    store.close()
    again = LibraryStore(tmp_path)  # opening twice migrates nothing and keeps the data
    assert schema_version(again.conn) == SCHEMA_VERSION
    again.close()


def test_newer_schema_is_refused_with_a_hint(tmp_path: Path) -> None:
    LibraryStore(tmp_path).close()
    raw = sqlite3.connect(tmp_path / DB_FILE_NAME)
    raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    raw.commit()
    raw.close()
    with pytest.raises(LibraryError, match="newer than this DCLIP understands"):
        LibraryStore(tmp_path)


def test_a_file_that_is_not_a_database_is_reported_not_overwritten(tmp_path: Path) -> None:
    db = tmp_path / DB_FILE_NAME
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LibraryError, match="move it aside"):
        LibraryStore(tmp_path)
    assert db.read_bytes() == b"this is not sqlite" * 100
