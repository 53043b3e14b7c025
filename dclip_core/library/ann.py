"""The approximate-nearest-neighbour index of one model's embeddings (hnswlib, inner product).

The index is derived data: SQLite holds every vector, and :class:`AnnIndex` can always be rebuilt
from it. On disk an index is two files in the library's ``ann/`` folder, named by the model
fingerprint: ``<fp>.hnsw`` (hnswlib's own format) and ``<fp>.json`` (what it contains: the model
revision it was built at, its size and CRC-32). Both are written atomically (temporary file +
rename), the JSON last. :func:`load_ann_index` refuses a file whose size or CRC does not match its
JSON — hnswlib would crash or answer garbage on a damaged file — and the caller rebuilds.

Labels are library image ids; a removed image is *marked deleted* (hnswlib never returns it again
and ids are never reused, see :mod:`dclip_core.library.schema`).
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import hnswlib
import numpy as np

from dclip_core.config.paths import atomic_write_text

ANN_FORMAT = 2


@dataclass(frozen=True)
class AnnParams:
    """hnswlib construction and query settings.

    Chosen by measurement (docs/adr/0003-library-storage.md): recall@10 >= 0.99 against exact
    search on 100k uniformly random 32-d unit vectors (0.997 measured; the slow test in
    tests/core/library/test_ann.py), and 1.0 on 50k clustered 512-d vectors shaped like CLIP
    embeddings. ef_construction 100 builds twice as fast as 200 for the same recall at this
    ef_search. Uniformly random 512-d vectors have no neighbourhood structure at all (every
    vector is nearly orthogonal to every other) and no graph index reaches 0.99 on them short of
    visiting most of the graph; real embeddings are far from that.
    """

    m: int = 16
    ef_construction: int = 100
    ef_search: int = 384


@dataclass(frozen=True)
class AnnMeta:
    """The JSON beside an index file."""

    format: int
    fingerprint: str
    dim: int
    revision: int
    count: int
    file_size: int
    crc32: int
    params: dict[str, int]


def _file_crc32(path: Path) -> int:
    """CRC-32 of a file: catches damage (truncation, bit rot, overwrites) at ~1 GB/s.

    Not a defence against tampering: the file is derived data in the user's own folder. sha256 was
    6.5x slower here (no SHA instructions on the reference CPU), seconds per search start at 1M.
    """
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(4 * 1024 * 1024):
            crc = zlib.crc32(chunk, crc)
    return crc


class AnnIndex:
    """An in-memory hnswlib index over unit vectors, scored by cosine similarity."""

    def __init__(self, dim: int, params: AnnParams | None = None, capacity: int = 1024) -> None:
        self.dim = dim
        self.params = params or AnnParams()
        self.revision = 0
        self._index = hnswlib.Index(space="ip", dim=dim)
        self._index.init_index(
            max_elements=max(capacity, 16),
            M=self.params.m,
            ef_construction=self.params.ef_construction,
            random_seed=100,
        )
        self._index.set_ef(self.params.ef_search)
        self._deleted = 0

    @property
    def count(self) -> int:
        """Live (not deleted) vectors."""
        return int(self._index.get_current_count()) - self._deleted

    def add(self, ids: np.ndarray, vectors: np.ndarray, threads: int = 0) -> None:
        """Insert vectors under the given labels (ids not already present)."""
        if len(ids) == 0:
            return
        needed = self._index.get_current_count() + len(ids)
        if needed > self._index.get_max_elements():
            self._index.resize_index(max(needed, int(self._index.get_max_elements() * 1.5)))
        self._index.add_items(
            np.ascontiguousarray(vectors, dtype=np.float32),
            np.asarray(ids, dtype=np.int64),
            num_threads=threads or (os.cpu_count() or 1),
        )

    def remove(self, ids: Iterable[int]) -> None:
        """Mark ids deleted; ids the index does not hold are ignored."""
        for image_id in ids:
            try:
                self._index.mark_deleted(int(image_id))
            except RuntimeError:
                continue  # not in the index, or already deleted: nothing to remove
            self._deleted += 1

    def search(
        self, query: np.ndarray, k: int, allowed: Callable[[int], bool] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (ids, cosine scores) of the ``k`` nearest vectors, best first.

        Args:
            query: a unit vector.
            k: how many; fewer come back when the index (or ``allowed``) has fewer.
            allowed: when given, only labels for which it returns True are considered.
        """
        k = min(k, self.count)
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        self._index.set_ef(max(self.params.ef_search, k))
        data = np.asarray(query, dtype=np.float32).reshape(1, -1)
        empty = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        found = self._query(data, k, allowed)
        if found is not None:
            return found
        # hnswlib raises when it finds fewer than k (a narrow filter): find the largest k that
        # works, in O(log k) queries.
        best, low, high = empty, 0, k
        while high - low > 1:
            middle = (low + high) // 2
            attempt = self._query(data, middle, allowed)
            if attempt is None:
                high = middle
            else:
                best, low = attempt, middle
        return best

    def _query(
        self, data: np.ndarray, k: int, allowed: Callable[[int], bool] | None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            labels, distances = self._index.knn_query(data, k=k, num_threads=1, filter=allowed)
        except RuntimeError:
            return None
        return labels[0].astype(np.int64), (1.0 - distances[0]).astype(np.float32)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (which must be present), as an (N, D) array."""
        if len(ids) == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.asarray(
            self._index.get_items(np.asarray(ids, dtype=np.int64), return_type="numpy"),
            dtype=np.float32,
        )

    def save(self, folder: Path, fingerprint: str) -> AnnMeta:
        """Write ``<fingerprint>.hnsw`` and ``.json`` atomically into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{fingerprint}.hnsw"
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        try:
            self._index.save_index(tmp_name)
            with open(tmp_name, "rb") as handle:
                os.fsync(handle.fileno())
            meta = AnnMeta(
                format=ANN_FORMAT,
                fingerprint=fingerprint,
                dim=self.dim,
                revision=self.revision,
                count=self.count,
                file_size=os.path.getsize(tmp_name),
                crc32=_file_crc32(Path(tmp_name)),
                params=asdict(self.params),
            )
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        atomic_write_text(folder / f"{fingerprint}.json", json.dumps(asdict(meta), indent=1))
        return meta


def read_ann_meta(folder: Path, fingerprint: str) -> AnnMeta | None:
    """The saved index's description, or None when it is missing or unreadable."""
    try:
        data = json.loads((folder / f"{fingerprint}.json").read_text(encoding="utf-8"))
        meta = AnnMeta(**data)
    except (OSError, ValueError, TypeError):
        return None
    if meta.format != ANN_FORMAT or meta.fingerprint != fingerprint:
        return None
    return meta


def load_ann_index(
    folder: Path, fingerprint: str, dim: int, params: AnnParams | None = None
) -> AnnIndex | None:
    """Load the saved index of ``fingerprint``; None when missing, damaged or of another shape.

    The file is verified against its JSON (size and CRC-32) *before* hnswlib reads it.
    """
    meta = read_ann_meta(folder, fingerprint)
    path = folder / f"{fingerprint}.hnsw"
    if meta is None or meta.dim != dim:
        return None
    try:
        if path.stat().st_size != meta.file_size or _file_crc32(path) != meta.crc32:
            return None
    except OSError:
        return None
    params = params or AnnParams()
    ann = AnnIndex.__new__(AnnIndex)
    ann.dim = dim
    ann.params = AnnParams(
        m=int(meta.params.get("m", params.m)),
        ef_construction=int(meta.params.get("ef_construction", params.ef_construction)),
        ef_search=params.ef_search,
    )
    ann.revision = meta.revision
    index = hnswlib.Index(space="ip", dim=dim)
    try:
        index.load_index(str(path), max_elements=0)
    except (RuntimeError, ValueError, MemoryError):
        return None
    ann._index = index
    ann._deleted = int(index.get_current_count()) - meta.count
    index.set_ef(ann.params.ef_search)
    return ann
