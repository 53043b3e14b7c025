"""Typed reads and writes of the library database (see :mod:`dclip_core.library.schema`).

:class:`LibraryStore` wraps one SQLite connection. Reads are plain methods; writes happen inside
``with store.write():`` — one transaction — so the indexer commits a whole batch (rows, vectors
and the embedding log) at once, and a process killed mid-batch leaves no half-written photo.

Vectors and their change log live in :mod:`dclip_core.library.embeddings` (mixed in). An image's
vector is never replaced in place: changed content gets a new image id.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dclip_core.library.embeddings import EmbeddingTables
from dclip_core.library.regions import library_fingerprint, view_count
from dclip_core.library.schema import DB_FILE_NAME, connect, migrate, transaction


@dataclass(frozen=True)
class RootRow:
    id: int
    path: str
    added_at: float
    last_indexed_at: float | None


@dataclass(frozen=True)
class ModelRow:
    id: int
    fingerprint: str
    name: str
    embed_dim: int
    bundle_path: str | None
    revision: int
    created_at: float
    completed_at: float | None
    # Region layout of the vectors (dclip_core.library.regions): "none" = one per image.
    regions: str = "none"

    @property
    def views(self) -> int:
        """Vectors stored per image."""
        return view_count(self.regions)


@dataclass(frozen=True)
class ImageRecord:
    """One file of the library as the database knows it."""

    id: int
    root_id: int
    path: str
    folder: str
    size: int
    mtime_ns: int
    content_hash: str | None
    width: int | None
    height: int | None
    taken_at: str | None
    taken_source: str | None
    status: str
    error_code: str | None
    error: str | None
    indexed_at: float


_IMAGE_COLUMNS = (
    "id, root_id, path, folder, size, mtime_ns, content_hash, width, height, taken_at, "
    "taken_source, status, error_code, error, indexed_at"
)


@dataclass(frozen=True)
class NewImage:
    """What the indexer knows about a file it is about to record."""

    root_id: int
    path: str
    size: int
    mtime_ns: int
    content_hash: str | None
    status: str  # "ok" | "failed"
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None
    taken_source: str | None = None
    error_code: str | None = None
    error: str | None = None


def like_prefix(folder: str) -> str:
    """A LIKE pattern matching everything below ``folder`` (wildcards in the name escaped)."""
    escaped = folder.rstrip(os.sep).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + (os.sep if os.sep != "\\" else "\\\\") + "%"


class LibraryStore(EmbeddingTables):
    """The database of one library folder (``<dir>/library.sqlite3``)."""

    def __init__(self, library_dir: Path) -> None:
        self.library_dir = library_dir
        self.db_path = library_dir / DB_FILE_NAME
        self.conn = connect(self.db_path)
        migrate(self.conn, self.db_path)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (the caller holds the library's writer lock)."""
        with transaction(self.conn) as conn:
            yield conn

    # --- roots ------------------------------------------------------------------------------------

    def roots(self) -> list[RootRow]:
        rows = self.conn.execute(
            "SELECT id, path, added_at, last_indexed_at FROM roots ORDER BY path"
        ).fetchall()
        return [RootRow(*r) for r in rows]

    def root_by_path(self, path: str) -> RootRow | None:
        row = self.conn.execute(
            "SELECT id, path, added_at, last_indexed_at FROM roots WHERE path = ?", (path,)
        ).fetchone()
        return RootRow(*row) if row else None

    def add_root(self, path: str) -> RootRow:
        with self.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO roots (path, added_at) VALUES (?, ?)", (path, time.time())
            )
        root = self.root_by_path(path)
        assert root is not None
        return root

    def mark_root_indexed(self, root_id: int) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE roots SET last_indexed_at = ? WHERE id = ?", (time.time(), root_id)
            )

    def root_counts(self) -> dict[int, dict[str, int]]:
        """Per root id: number of images by status."""
        out: dict[int, dict[str, int]] = {}
        for root_id, status, n in self.conn.execute(
            "SELECT root_id, status, COUNT(*) FROM images GROUP BY root_id, status"
        ):
            out.setdefault(root_id, {})[status] = n
        return out

    def delete_root(self, root_id: int) -> int:
        """Forget a root and its images (vectors leave every ANN index); returns images removed."""
        ids = [
            r[0] for r in self.conn.execute("SELECT id FROM images WHERE root_id = ?", (root_id,))
        ]
        with self.write() as conn:
            self.delete_images(conn, ids)
            conn.execute("DELETE FROM roots WHERE id = ?", (root_id,))
        return len(ids)

    # --- models -----------------------------------------------------------------------------------

    def _model(self, where: str, args: Sequence[object]) -> ModelRow | None:
        row = self.conn.execute(
            "SELECT id, fingerprint, name, embed_dim, bundle_path, revision, created_at, "
            f"completed_at, regions FROM models WHERE {where}",
            tuple(args),
        ).fetchone()
        return ModelRow(*row) if row else None

    def model(self, fingerprint: str) -> ModelRow | None:
        return self._model("fingerprint = ?", (fingerprint,))

    def model_by_id(self, model_id: int) -> ModelRow | None:
        return self._model("id = ?", (model_id,))

    def models(self) -> list[ModelRow]:
        rows = self.conn.execute("SELECT fingerprint FROM models ORDER BY id").fetchall()
        return [m for (fp,) in rows if (m := self.model(fp)) is not None]

    def ensure_model(
        self,
        bundle_fingerprint: str,
        name: str,
        embed_dim: int,
        bundle_path: str | None,
        regions: str = "none",
    ) -> ModelRow:
        """The row of a bundle's vectors under a region layout, created when new.

        Each layout has a row of its own, keyed by
        :func:`~dclip_core.library.regions.library_fingerprint` of the bundle and the layout.
        """
        fingerprint = library_fingerprint(bundle_fingerprint, regions)
        with self.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO models (fingerprint, name, embed_dim, bundle_path, "
                "created_at, regions) VALUES (?, ?, ?, ?, ?, ?)",
                (fingerprint, name, embed_dim, bundle_path, time.time(), regions),
            )
            if bundle_path:
                conn.execute(
                    "UPDATE models SET bundle_path = ? WHERE fingerprint = ?",
                    (bundle_path, fingerprint),
                )
        model = self.model(fingerprint)
        assert model is not None
        return model

    def state(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM library_state WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_state(self, conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute(
            "INSERT INTO library_state (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def active_model(self) -> ModelRow | None:
        """The model searches use: the last one that finished embedding the whole library."""
        fingerprint = self.state("active_model")
        return self.model(fingerprint) if fingerprint else None

    def missing_embeddings(self, model_id: int) -> int:
        """Usable images that have no vector of this model yet."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM images i WHERE i.status = 'ok' AND NOT EXISTS "
            "(SELECT 1 FROM embeddings e WHERE e.model_id = ? AND e.image_id = i.id)",
            (model_id,),
        ).fetchone()
        return int(row[0])

    def complete_model(self, model_id: int) -> None:
        """Record that every usable image has a vector of this model, and make it active."""
        model = self.model_by_id(model_id)
        assert model is not None
        with self.write() as conn:
            conn.execute("UPDATE models SET completed_at = ? WHERE id = ?", (time.time(), model_id))
            self.set_state(conn, "active_model", model.fingerprint)

    # --- images -----------------------------------------------------------------------------------

    def image(self, image_id: int) -> ImageRecord | None:
        row = self.conn.execute(
            f"SELECT {_IMAGE_COLUMNS} FROM images WHERE id = ?", (image_id,)
        ).fetchone()
        return ImageRecord(*row) if row else None

    def image_by_path(self, path: str) -> ImageRecord | None:
        row = self.conn.execute(
            f"SELECT {_IMAGE_COLUMNS} FROM images WHERE path = ?", (path,)
        ).fetchone()
        return ImageRecord(*row) if row else None

    def images(self, ids: Iterable[int]) -> dict[int, ImageRecord]:
        """Rows of many ids at once (missing ids are left out)."""
        out: dict[int, ImageRecord] = {}
        id_list = list(ids)
        for start in range(0, len(id_list), 500):
            chunk = id_list[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                f"SELECT {_IMAGE_COLUMNS} FROM images WHERE id IN ({marks})", chunk
            ):
                out[row[0]] = ImageRecord(*row)
        return out

    def images_of_roots(self, root_ids: Sequence[int]) -> dict[str, ImageRecord]:
        marks = ",".join("?" * len(root_ids))
        return {
            row[2]: ImageRecord(*row)
            for row in self.conn.execute(
                f"SELECT {_IMAGE_COLUMNS} FROM images WHERE root_id IN ({marks})", tuple(root_ids)
            )
        }

    def images_with_hash(self, content_hash: str) -> list[ImageRecord]:
        return [
            ImageRecord(*row)
            for row in self.conn.execute(
                f"SELECT {_IMAGE_COLUMNS} FROM images WHERE content_hash = ? AND status = 'ok'",
                (content_hash,),
            )
        ]

    def failed_images(self, limit: int | None = None) -> list[ImageRecord]:
        sql = f"SELECT {_IMAGE_COLUMNS} FROM images WHERE status = 'failed' ORDER BY path"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [ImageRecord(*row) for row in self.conn.execute(sql)]

    def counts(self) -> dict[str, int]:
        return {
            status: n
            for status, n in self.conn.execute(
                "SELECT status, COUNT(*) FROM images GROUP BY status"
            )
        }

    def filtered_ids(
        self, folders: Sequence[str], after: str | None, before: str | None
    ) -> list[int]:
        """Ids of usable images inside any of ``folders`` and within the date range."""
        where = ["status = 'ok'"]
        args: list[object] = []
        if folders:
            parts = []
            for folder in folders:
                parts.append("(folder = ? OR folder LIKE ? ESCAPE '\\')")
                args.extend([folder.rstrip(os.sep) or os.sep, like_prefix(folder)])
            where.append("(" + " OR ".join(parts) + ")")
        if after:
            where.append("taken_at >= ?")
            args.append(after)
        if before:
            where.append("taken_at < ?")
            args.append(before)
        sql = f"SELECT id FROM images WHERE {' AND '.join(where)}"
        return [r[0] for r in self.conn.execute(sql, args)]

    # --- writes (inside ``with store.write() as conn``) -------------------------------------------

    def insert_image(self, conn: sqlite3.Connection, new: NewImage) -> int:
        cursor = conn.execute(
            "INSERT INTO images (root_id, path, folder, size, mtime_ns, content_hash, width, "
            "height, taken_at, taken_source, status, error_code, error, indexed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new.root_id,
                new.path,
                os.path.dirname(new.path),
                new.size,
                new.mtime_ns,
                new.content_hash,
                new.width,
                new.height,
                new.taken_at,
                new.taken_source,
                new.status,
                new.error_code,
                new.error,
                time.time(),
            ),
        )
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)

    def move_image(
        self,
        conn: sqlite3.Connection,
        image_id: int,
        root_id: int,
        path: str,
        size: int,
        mtime_ns: int,
    ) -> None:
        """A file found under a new path with the content of ``image_id``: it keeps its vectors."""
        conn.execute(
            "UPDATE images SET root_id = ?, path = ?, folder = ?, size = ?, mtime_ns = ? "
            "WHERE id = ?",
            (root_id, path, os.path.dirname(path), size, mtime_ns, image_id),
        )

    def touch_image(self, conn: sqlite3.Connection, image_id: int, mtime_ns: int) -> None:
        """Same content, new modification time (e.g. copied back, ``touch``)."""
        conn.execute("UPDATE images SET mtime_ns = ? WHERE id = ?", (mtime_ns, image_id))

    def delete_images(self, conn: sqlite3.Connection, image_ids: Sequence[int]) -> None:
        """Remove images and their vectors, logging each removal for the ANN indexes."""
        for start in range(0, len(image_ids), 500):
            chunk = list(image_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            per_model: dict[int, list[tuple[int, int]]] = {}
            for model_id, image_id in conn.execute(
                f"SELECT model_id, image_id FROM embeddings WHERE image_id IN ({marks})", chunk
            ):
                per_model.setdefault(model_id, []).append((image_id, -1))
            for model_id, changes in per_model.items():
                self._log(conn, model_id, changes)
            conn.execute(f"DELETE FROM embeddings WHERE image_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM images WHERE id IN ({marks})", chunk)

    # --- what the ANN index is built from ---------------------------------------------------------
