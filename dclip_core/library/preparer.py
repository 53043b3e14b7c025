"""The producer side of indexing: turn one file into pixels for the model, in a decode pool.

:class:`PhotoPreparer` does, per file and in a worker thread of the pool that
:func:`decode_pool` opens:

1. **Hash** new and changed files (size + first/last 64 KiB) and look the hash up: a file whose
   content the library already knows is not decoded (the indexer moves or copies its row).
2. **Decode** it once, reduced to the size the model and the thumbnail need
   (:func:`~dclip_core.library.decoder.decode_for_index`: JPEG draft decoding; size and date
   from the same opening of the file).
3. **Preprocess** every view (the whole photo, plus region crops when the model has them).
4. **Write the thumbnail** from that already reduced image (never from the file again).

It never raises for anything a file does: the outcome says what happened. The indexer
(:mod:`dclip_core.library.indexer`) consumes the outcomes, embeds and commits them.

Why the decode pool's threads run at a lower scheduling priority on the CPU provider: the model
(ONNX Runtime's intra-op threads) and the decoders want the same cores. Run side by side at equal
priority they slow each other down beyond their share — ONNX Runtime splits every operator over
its threads and waits for the slowest, so one thread that loses its core to a decoder stalls the
rest. With the decoders "nice", the model runs at full speed whenever it has work and the
decoders fill every moment it does not (between operators, between batches, while it waits for
the next batch): the cores stay busy without the two fighting. With CUDA the model needs little
CPU and the decoders keep normal priority (docs/adr/0020-indexing-at-the-machines-limit.md).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from dclip_core.library.decoder import (
    DecodeFailure,
    decode_for_index,
    thumbnail_file,
    write_thumbnail,
)
from dclip_core.library.regions import crop_views
from dclip_core.library.scanner import ScannedFile, content_hash
from dclip_core.library.schema import connect
from dclip_core.library.store import ImageRecord, LibraryStore
from dclip_core.runtime.preprocess import ImagePreprocess, preprocess_image

log = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"
# Niceness of decode threads beside a CPU model: the lowest priority, so they only take what the
# model leaves (measured against 0 in docs/benchmarks.md, "Indexing speed").
DECODE_NICENESS = 19


@dataclass(frozen=True)
class IndexJob:
    """One file the indexer has to look at, and why."""

    file: ScannedFile
    row: ImageRecord | None  # the database row at this path, if any
    kind: Literal["new", "changed", "embed"]
    lookup: bool = True  # may the content hash be matched against known photos?


@dataclass
class PreparedPhoto:
    """What :meth:`PhotoPreparer.prepare` made of a job."""

    job: IndexJob
    outcome: Literal["touch", "known", "decoded", "failed"]
    content_hash: str | None = None
    matches: list[ImageRecord] = field(default_factory=list)
    pixels: np.ndarray | None = None  # (views, 3, size, size)
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None
    taken_source: str | None = None
    failure: DecodeFailure | None = None


def decode_workers(requested: int, provider: str, cpu_count: int | None = None) -> int:
    """How many decode threads a run uses.

    One per core on either provider: on the CPU the decoders run at low priority beside the
    model's threads (so more of them than cores would only add switching), and with CUDA the
    cores are theirs. Threads, not processes: Pillow and libjpeg release the GIL while decoding
    and resizing, and the measured 2-thread decode rate is ~1.9x one thread's.

    Args:
        requested: ``IndexOptions.workers``; a positive value is used as given.
        provider: the encoder's ONNX Runtime provider.
        cpu_count: cores to size for (default: ``os.cpu_count()``).
    """
    if requested > 0:
        return requested
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return max(1, cores)


def lower_thread_priority(niceness: int = DECODE_NICENESS) -> None:
    """Make the calling thread yield its core to normal-priority threads (Linux only).

    Linux schedules threads individually, so ``setpriority`` on the thread id changes this thread
    alone. Elsewhere this does nothing: the pipeline still works, with some contention.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except OSError as exc:  # a sandbox may forbid it; decoding works the same
        log.debug("cannot lower decode thread priority: %s", exc)


@contextmanager
def decode_pool(workers: int, provider: str) -> Iterator[ThreadPoolExecutor]:
    """The thread pool that prepares photos, at low priority beside a CPU model."""
    initializer = lower_thread_priority if provider == CPU_PROVIDER else None
    with ThreadPoolExecutor(
        workers, thread_name_prefix="dclip-decode", initializer=initializer
    ) as pool:
        yield pool


class PhotoPreparer:
    """Hashes, decodes, preprocesses and thumbnails files; called from the decode pool's threads.

    Each thread gets its own read connection for hash look-ups (SQLite connections are not shared
    between threads); :meth:`close` closes them all.
    """

    def __init__(
        self,
        store: LibraryStore,
        preprocess: ImagePreprocess,
        regions: str,
        min_side: int,
        thumbnails_dir: Path | None,
        thumbnail_size: int,
    ) -> None:
        self.store = store
        self.preprocess = preprocess
        self.regions = regions
        self.min_side = min_side
        self.thumbnails_dir = thumbnails_dir
        self.thumbnail_size = thumbnail_size
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_guard = threading.Lock()

    def _reader(self) -> LibraryStore:
        """A read connection for the calling worker thread."""
        reader = getattr(self._local, "store", None)
        if reader is None:
            reader = LibraryStore.__new__(LibraryStore)
            reader.library_dir = self.store.library_dir
            reader.db_path = self.store.db_path
            reader.conn = connect(self.store.db_path)
            with self._conns_guard:
                self._conns.append(reader.conn)
            self._local.store = reader
        return reader

    def close(self) -> None:
        """Close the workers' read connections (after the pool has stopped)."""
        with self._conns_guard:
            for conn in self._conns:
                conn.close()
            self._conns.clear()

    def prepare(self, job: IndexJob) -> PreparedPhoto:
        """Hash and/or decode one file. Never raises for anything the file does."""
        file = job.file
        digest = job.row.content_hash if job.kind == "embed" and job.row else None
        if job.kind != "embed" and file.path_ok and file.size > 0:
            try:
                digest = content_hash(file.path, file.size)
            except OSError:
                digest = None  # the decoder below records why the file cannot be read
            if digest is not None:
                if job.kind == "changed" and job.row and digest == job.row.content_hash:
                    return PreparedPhoto(job, "touch", digest)
                if job.lookup:
                    matches = [
                        m for m in self._reader().images_with_hash(digest) if m.size == file.size
                    ]
                    if matches:
                        return PreparedPhoto(job, "known", digest, matches=matches)
        decoded = decode_for_index(
            file.path,
            size=file.size,
            mtime_ns=file.mtime_ns,
            path_ok=file.path_ok,
            min_side=self.min_side,
        )
        if isinstance(decoded, DecodeFailure):
            return PreparedPhoto(job, "failed", digest, failure=decoded)
        try:
            pixels = np.stack(
                [
                    preprocess_image(view, self.preprocess)
                    for view in crop_views(decoded.image, self.regions)
                ]
            )
        except (ValueError, OSError) as exc:
            failure = DecodeFailure("truncated", f"image data cannot be converted ({exc})")
            return PreparedPhoto(job, "failed", digest, failure=failure)
        if self.thumbnails_dir is not None and digest is not None:
            target = thumbnail_file(self.thumbnails_dir, digest, self.thumbnail_size)
            if not target.exists():
                try:
                    write_thumbnail(decoded.image, target, self.thumbnail_size)
                except OSError as exc:
                    # A full or read-only cache costs the thumbnail (made again on demand), not
                    # the photo.
                    log.warning("cannot write thumbnail %s: %s", target, exc)
        return PreparedPhoto(
            job,
            "decoded",
            digest,
            pixels=pixels,
            width=decoded.width,
            height=decoded.height,
            taken_at=decoded.taken_at,
            taken_source=decoded.taken_source,
        )
