"""Keep a model's ANN index in step with the database.

:func:`sync_ann_index` returns an index that contains exactly the model's vectors at one database
snapshot: it loads the saved file, replays the embedding log since the file's revision, and falls
back to a full rebuild from SQLite when the file is missing, damaged, of another shape, or too far
behind the log. A model indexed with regions has one label per view
(:func:`~dclip_core.library.regions.ann_labels`). Reads happen inside one read transaction, so
the revision recorded in the index always matches what it contains even while an indexer is
writing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dclip_core.library.ann import AnnIndex, AnnParams, load_ann_index
from dclip_core.library.regions import ann_labels
from dclip_core.library.store import LibraryStore, ModelRow

ANN_DIR_NAME = "ann"
# A saved index further behind than this is caught up and saved again by whoever loads it.
SAVE_AFTER_CHANGES = 1000


def ann_dir(library_dir: Path) -> Path:
    return library_dir / ANN_DIR_NAME


def _labels(model: ModelRow, image_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """The ANN labels of images: their ids, or one label per view for a region model."""
    if model.views == 1:
        return np.asarray(image_ids, dtype=np.int64)
    return ann_labels(image_ids, model.views)


def add_rows(ann: AnnIndex, model: ModelRow, image_ids: np.ndarray, rows: np.ndarray) -> None:
    """Add stored rows (one per image, ``views * dim`` floats) to ``ann``, one label per view."""
    ann.add(_labels(model, image_ids), rows.reshape(len(image_ids) * model.views, model.embed_dim))


def build_ann_index(store: LibraryStore, model: ModelRow, params: AnnParams) -> AnnIndex:
    """A new index of every vector the model has, at the current database snapshot."""
    conn = store.conn
    conn.execute("BEGIN")
    try:
        (revision, count) = conn.execute(
            "SELECT m.revision, (SELECT COUNT(*) FROM embeddings e WHERE e.model_id = m.id) "
            "FROM models m WHERE m.id = ?",
            (model.id,),
        ).fetchone()
        ann = AnnIndex(model.embed_dim, params, capacity=count * model.views + 64)
        for ids, vectors in store.iter_vectors(model.id):
            add_rows(ann, model, ids, vectors)
        ann.revision = int(revision)
    finally:
        conn.execute("COMMIT")
    return ann


def catch_up(store: LibraryStore, model: ModelRow, ann: AnnIndex) -> int | None:
    """Apply the log since ``ann.revision``.

    Returns:
        The number of changes applied, or None when the log no longer reaches back (rebuild).
    """
    conn = store.conn
    conn.execute("BEGIN")
    try:
        changes = store.log_since(model.id, ann.revision)
        if changes is None:
            return None
        if not changes:
            return 0
        added = sorted({image_id for _, image_id, op in changes if op > 0})
        removed = {image_id for _, image_id, op in changes if op < 0}
        # Ids are never re-added once removed, so "added, then removed" nets to removed: the
        # vectors of such ids are gone from the table and simply not found here.
        ids, vectors = store.vectors_of(model.id, [i for i in added if i not in removed])
        add_rows(ann, model, ids, vectors)
        ann.remove(_labels(model, sorted(removed)).tolist())
        ann.revision = changes[-1][0]
    finally:
        conn.execute("COMMIT")
    return len(changes)


def sync_ann_index(
    store: LibraryStore,
    model: ModelRow,
    library_dir: Path,
    params: AnnParams | None = None,
    *,
    current: AnnIndex | None = None,
    save: bool = True,
) -> AnnIndex:
    """The model's index, up to date with the database.

    Args:
        store: the library database.
        model: whose index.
        library_dir: where ``ann/`` lives.
        params: construction/query settings for a rebuild.
        current: an index already in memory (kept and caught up when possible).
        save: write the index back when it was rebuilt or caught up by many changes. Saving is
            atomic and the file is derived data, so readers may do it too.
    """
    params = params or AnnParams()
    folder = ann_dir(library_dir)
    ann = current
    if ann is None:
        ann = load_ann_index(folder, model.fingerprint, model.embed_dim, params)
    applied = catch_up(store, model, ann) if ann is not None else None
    if ann is None or applied is None:
        ann = build_ann_index(store, model, params)
        if save:
            ann.save(folder, model.fingerprint)
        return ann
    if save and applied >= SAVE_AFTER_CHANGES:
        ann.save(folder, model.fingerprint)
    return ann


