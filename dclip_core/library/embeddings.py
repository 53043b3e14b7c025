"""The embedding tables of the library database: vectors per (model, image) and their change log.

Mixed into :class:`~dclip_core.library.store.LibraryStore`. Every change to a model's vectors
appends ``(revision, image_id, +1/-1)`` to ``embedding_log`` and bumps the model's ``revision`` in
the same transaction, so an ANN index saved at revision R catches up by replaying the log after R
(:mod:`dclip_core.library.ann_sync`). A model indexed with regions stores all views of an image
in its one row (:mod:`dclip_core.library.regions`); reads return rows of ``views * embed_dim``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

import numpy as np

from dclip_core.library.regions import view_count


def vector_to_blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


class EmbeddingTables:
    """Reads and writes of ``embeddings`` and ``embedding_log`` over ``self.conn``."""

    conn: sqlite3.Connection

    def _row_width(self, model_id: int) -> int:
        """Floats per stored row: the embedding size times the views of the model's layout."""
        row = self.conn.execute(
            "SELECT embed_dim, regions FROM models WHERE id = ?", (model_id,)
        ).fetchone()
        return int(row[0]) * view_count(row[1]) if row else 0

    def _revision(self, model_id: int) -> int | None:
        row = self.conn.execute("SELECT revision FROM models WHERE id = ?", (model_id,)).fetchone()
        return int(row[0]) if row else None

    def embedded_ids(self, model_id: int) -> set[int]:
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT image_id FROM embeddings WHERE model_id = ?", (model_id,)
            )
        }

    def embedded_ids_of(self, model_id: int, image_ids: Sequence[int]) -> set[int]:
        """Which of ``image_ids`` have a vector of this model."""
        if not image_ids:
            return set()
        marks = ",".join("?" * len(image_ids))
        return {
            r[0]
            for r in self.conn.execute(
                f"SELECT image_id FROM embeddings WHERE model_id = ? AND image_id IN ({marks})",
                (model_id, *image_ids),
            )
        }

    def _log(self, conn: sqlite3.Connection, model_id: int, changes: list[tuple[int, int]]) -> None:
        """Append (image_id, op) changes of one model to its log and bump its revision."""
        if not changes:
            return
        (base,) = conn.execute("SELECT revision FROM models WHERE id = ?", (model_id,)).fetchone()
        conn.executemany(
            "INSERT INTO embedding_log (model_id, revision, image_id, op) VALUES (?, ?, ?, ?)",
            [(model_id, base + i + 1, image_id, op) for i, (image_id, op) in enumerate(changes)],
        )
        conn.execute("UPDATE models SET revision = ? WHERE id = ?", (base + len(changes), model_id))

    def add_embeddings(
        self, conn: sqlite3.Connection, model_id: int, image_ids: Sequence[int], vectors: np.ndarray
    ) -> None:
        conn.executemany(
            "INSERT INTO embeddings (model_id, image_id, vector) VALUES (?, ?, ?)",
            [(model_id, i, vector_to_blob(v)) for i, v in zip(image_ids, vectors, strict=True)],
        )
        self._log(conn, model_id, [(i, 1) for i in image_ids])

    def copy_embeddings(self, conn: sqlite3.Connection, source_id: int, target_id: int) -> int:
        """Give ``target_id`` the vectors of ``source_id`` for every model; returns how many."""
        rows = conn.execute(
            "SELECT model_id, vector FROM embeddings WHERE image_id = ?", (source_id,)
        ).fetchall()
        for model_id, blob in rows:
            conn.execute(
                "INSERT INTO embeddings (model_id, image_id, vector) VALUES (?, ?, ?)",
                (model_id, target_id, blob),
            )
            self._log(conn, model_id, [(target_id, 1)])
        return len(rows)

    def iter_vectors(
        self, model_id: int, chunk: int = 20000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All (ids, vectors) of a model, in chunks, ordered by id."""
        last = -1
        while True:
            rows = self.conn.execute(
                "SELECT image_id, vector FROM embeddings WHERE model_id = ? AND image_id > ? "
                "ORDER BY image_id LIMIT ?",
                (model_id, last, chunk),
            ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(
                len(rows), -1
            )
            yield ids, vectors
            last = int(ids[-1])

    def vectors_of(self, model_id: int, image_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids found, vectors) of the given images for one model."""
        found: list[int] = []
        blobs: list[bytes] = []
        id_list = list(image_ids)
        for start in range(0, len(id_list), 500):
            chunk = id_list[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for image_id, blob in self.conn.execute(
                f"SELECT image_id, vector FROM embeddings WHERE model_id = ? "
                f"AND image_id IN ({marks})",
                (model_id, *chunk),
            ):
                found.append(image_id)
                blobs.append(blob)
        dim = self._row_width(model_id)
        vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(found), dim)
        return np.asarray(found, dtype=np.int64), vectors

    def log_since(self, model_id: int, revision: int) -> list[tuple[int, int, int]] | None:
        """(revision, image_id, op) after ``revision``; None when the log no longer reaches back."""
        (oldest,) = self.conn.execute(
            "SELECT MIN(revision) FROM embedding_log WHERE model_id = ?", (model_id,)
        ).fetchone()
        current = self._revision(model_id)
        if current is None:
            return None
        if current == revision:
            return []
        if oldest is None or oldest > revision + 1:
            return None
        return [
            (int(r), int(i), int(o))
            for r, i, o in self.conn.execute(
                "SELECT revision, image_id, op FROM embedding_log WHERE model_id = ? "
                "AND revision > ? ORDER BY revision",
                (model_id, revision),
            )
        ]

    def prune_log(self, model_id: int, up_to_revision: int) -> None:
        """Drop log entries an on-disk index already contains (a full rebuild needs none)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute(
                "DELETE FROM embedding_log WHERE model_id = ? AND revision <= ?",
                (model_id, up_to_revision),
            )
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def sample_vectors(self, model_id: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` random (ids, vectors) of a model, found by probing random id values.

        Probing by primary key costs O(n log N) instead of a scan of all N rows.
        """
        lo, hi, total = self.conn.execute(
            "SELECT MIN(image_id), MAX(image_id), COUNT(*) FROM embeddings WHERE model_id = ?",
            (model_id,),
        ).fetchone()
        if not total:
            empty = np.empty((0, self._row_width(model_id)), dtype=np.float32)
            return np.empty(0, dtype=np.int64), empty
        if total <= n:
            return self.vectors_of(model_id, sorted(self.embedded_ids(model_id)))
        rng = np.random.default_rng(seed)
        ids: list[np.ndarray] = []
        vectors: list[np.ndarray] = []
        seen: set[int] = set()
        for _ in range(16):
            probe = [p for p in set(rng.integers(lo, hi + 1, size=n).tolist()) if p not in seen]
            found, found_vectors = self.vectors_of(model_id, probe)
            seen.update(probe)
            ids.append(found)
            vectors.append(found_vectors)
            if sum(len(i) for i in ids) >= n:
                break
        return np.concatenate(ids)[:n], np.concatenate(vectors)[:n]
