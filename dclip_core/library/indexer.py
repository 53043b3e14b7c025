"""The indexing pipeline: scan, compare, hash, decode, embed, commit — batch by batch.

Flow of one run (:func:`run_index`, called by :meth:`Library.index` with the writer lock held):

1. **Scan** the roots (``stat`` only) and compare with the database. A file whose (size, mtime) is
   unchanged is skipped without being read — also when it failed before (not retried until it
   changes). Unchanged usable files that lack a vector of the current model are re-embedded.
2. **Prepare** the rest in the decode pool (:mod:`dclip_core.library.preparer`): hash new and
   changed files; a hash the library already knows is not decoded (a moved file takes over its old
   row and keeps its vectors; a copy gets the vectors copied); otherwise decode once, reduced,
   preprocess and write the thumbnail from that reduced image.
3. **Embed** prepared images in batches (:func:`index_batch_size`) with the ONNX encoder in the
   calling thread, while the pool keeps decoding ahead (ONNX Runtime releases the GIL; on the CPU
   the decode threads run at low priority so they fill the model's idle moments instead of
   slowing its threads down).
4. **Commit** each batch — rows, vectors, failures, moves, log — in one transaction: a process
   killed at any moment loses at most the batch in flight, and the next run resumes without
   duplicates (paths are unique; a committed file is "unchanged" next time).
5. **Clean up**: files no longer on disk leave the library (not under a root that is missing or a
   folder that could not be listed, so an unplugged drive does not empty the library); the model's
   ANN index is brought up to date and saved; a model that now covers every image becomes active.

Progress (:class:`IndexProgress`) goes to a callback; a :class:`CancelToken` stops the run after
the batch in flight is committed.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from pathlib import Path

import numpy as np

from dclip_core.library.ann import read_ann_meta
from dclip_core.library.ann_sync import ann_dir, sync_ann_index
from dclip_core.library.encoder import ImageEncoder
from dclip_core.library.index_types import (
    CancelToken,
    IndexOptions,
    IndexProgress,
    IndexReport,
    Phase,
)
from dclip_core.library.preparer import (
    CPU_PROVIDER,
    IndexJob,
    PhotoPreparer,
    PreparedPhoto,
    decode_pool,
    decode_workers,
)
from dclip_core.library.regions import decode_side
from dclip_core.library.scanner import ScannedFile, ScanRules, scan_roots
from dclip_core.library.store import ImageRecord, LibraryStore, ModelRow, NewImage

log = logging.getLogger(__name__)

# Images per ONNX call when IndexOptions.batch_size is 0. On the CPU, ViT-B/32's throughput is the
# same from batch 8 up (measured by `dclip bench index`, docs/benchmarks.md "Indexing speed"),
# and a small batch starts the model sooner and leaves a shorter tail when the photos run out; a
# GPU needs larger batches to be kept busy.
CPU_BATCH_SIZE = 8
GPU_BATCH_SIZE = 32


def index_batch_size(requested: int, provider: str) -> int:
    """Images per inference batch (and per commit): ``requested``, or by provider when 0."""
    if requested > 0:
        return requested
    return CPU_BATCH_SIZE if provider == CPU_PROVIDER else GPU_BATCH_SIZE


class _Run:
    """State of one indexing run (single use)."""

    def __init__(
        self,
        store: LibraryStore,
        encoder: ImageEncoder,
        model: ModelRow,
        options: IndexOptions,
        thumbnails_dir: Path | None,
        progress: Callable[[IndexProgress], None] | None,
        cancel: CancelToken | None,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.model = model
        self.options = options
        self.provider: str = getattr(encoder, "provider", CPU_PROVIDER)
        self.batch_size = index_batch_size(options.batch_size, self.provider)
        self.progress_cb = progress
        self.cancel = cancel or CancelToken()
        preprocess = encoder.manifest.image.preprocess
        self.preparer = PhotoPreparer(
            store,
            preprocess,
            model.regions,
            min_side=max(
                decode_side(model.regions, preprocess.size),
                options.thumbnail_size if options.thumbnails else 0,
            ),
            thumbnails_dir=thumbnails_dir if options.thumbnails else None,
            thumbnail_size=options.thumbnail_size,
        )
        self.report = IndexReport(model.name, model.fingerprint)
        self.total = 0
        self.done = 0
        self.to_process = 0
        self.processed = 0
        self.started = time.monotonic()
        self.last_progress = 0.0
        self.claimed: set[int] = set()  # rows taken over by moved files in this run
        self.seen_paths: set[str] = set()

    # --- main thread ------------------------------------------------------------------------------

    def emit(self, phase: Phase, current: str | None = None, force: bool = False) -> None:
        if self.progress_cb is None:
            return
        now = time.monotonic()
        if not force and now - self.last_progress < 0.2:
            return
        self.last_progress = now
        elapsed = max(now - self.started, 1e-6)
        rate = self.processed / elapsed
        left = self.to_process - self.processed
        eta = left / rate if rate > 0 else None
        r = self.report
        self.progress_cb(
            IndexProgress(
                phase=phase,
                done=self.done,
                total=self.total,
                rate=rate,
                eta_s=eta,
                embedded=r.embedded,
                reused=r.reused,
                failed=r.failed,
                removed=r.removed,
                current=current,
            )
        )

    def classify(
        self, files: Sequence[ScannedFile], existing: dict[str, ImageRecord]
    ) -> list[IndexJob]:
        embedded = self.store.embedded_ids(self.model.id)
        jobs: list[IndexJob] = []
        for file in files:
            self.seen_paths.add(file.path)
            row = existing.get(file.path)
            if row is None:
                jobs.append(IndexJob(file, None, "new"))
            elif row.size != file.size or row.mtime_ns != file.mtime_ns:
                jobs.append(IndexJob(file, row, "changed"))
            elif row.status == "ok" and row.id not in embedded:
                jobs.append(IndexJob(file, row, "embed"))
            else:
                self.report.unchanged += 1
        return jobs

    def _record(self, file: ScannedFile, prepared: PreparedPhoto, status: str) -> NewImage:
        failure = prepared.failure
        return NewImage(
            root_id=file.root_id,
            path=file.path,
            size=file.size,
            mtime_ns=file.mtime_ns,
            content_hash=prepared.content_hash,
            status=status,
            width=prepared.width,
            height=prepared.height,
            taken_at=prepared.taken_at,
            taken_source=prepared.taken_source,
            error_code=failure.code if failure else None,
            error=failure.message if failure else None,
        )

    def resolve_known(self, conn: sqlite3.Connection, prepared: PreparedPhoto) -> IndexJob | None:
        """Reuse the vectors of a known hash; returns a job to decode when that is impossible."""
        job = prepared.job
        file = job.file
        embedded_here = self.store.embedded_ids_of(self.model.id, [m.id for m in prepared.matches])
        # A match whose file is gone was moved or renamed to this path: take over its row.
        for match in prepared.matches:
            if match.id in self.claimed or match.path == file.path:
                continue
            if match.path not in self.seen_paths and not os.path.exists(match.path):
                self.claimed.add(match.id)
                if job.kind == "changed" and job.row is not None:
                    self.store.delete_images(conn, [job.row.id])
                self.store.move_image(
                    conn, match.id, file.root_id, file.path, file.size, file.mtime_ns
                )
                self.report.moved += 1
                if match.id not in embedded_here:
                    moved_row = replace(
                        match, path=file.path, size=file.size, mtime_ns=file.mtime_ns
                    )
                    return IndexJob(file, moved_row, "embed")
                return None
        # Otherwise it is a copy of a photo still in place: copy its vectors, no inference.
        for match in prepared.matches:
            if match.id in embedded_here:
                if job.kind == "changed" and job.row is not None:
                    self.store.delete_images(conn, [job.row.id])
                new_id = self.store.insert_image(
                    conn,
                    NewImage(
                        root_id=file.root_id,
                        path=file.path,
                        size=file.size,
                        mtime_ns=file.mtime_ns,
                        content_hash=prepared.content_hash,
                        status="ok",
                        width=match.width,
                        height=match.height,
                        taken_at=match.taken_at,
                        taken_source=match.taken_source,
                    ),
                )
                self.store.copy_embeddings(conn, match.id, new_id)
                self.report.copied += 1
                return None
        return replace(job, lookup=False)

    def flush(self, batch: list[PreparedPhoto], others: list[PreparedPhoto]) -> list[IndexJob]:
        """Embed ``batch``, commit it with the other outcomes; returns jobs to queue again."""
        vectors = None
        if batch:
            # One row per image: the vectors of its views (one unless indexed with regions).
            pixels = np.concatenate([p.pixels for p in batch if p.pixels is not None])
            vectors = np.asarray(self.encoder.embed_pixels(pixels), dtype=np.float32)
            vectors = vectors.reshape(len(batch), -1)
        requeue: list[IndexJob] = []
        with self.store.write() as conn:
            for prepared in others:
                job = prepared.job
                if prepared.outcome == "touch" and job.row is not None:
                    self.store.touch_image(conn, job.row.id, job.file.mtime_ns)
                    self.report.touched += 1
                elif prepared.outcome == "known":
                    again = self.resolve_known(conn, prepared)
                    if again is not None:
                        requeue.append(again)
                        continue
                elif prepared.outcome == "failed":
                    if job.kind == "embed" and job.row is not None:
                        # It decoded before and not now, with the same size and time: record it.
                        self.store.delete_images(conn, [job.row.id])
                    elif job.kind == "changed" and job.row is not None:
                        self.store.delete_images(conn, [job.row.id])
                    self.store.insert_image(conn, self._record(job.file, prepared, "failed"))
                    self.report.failed += 1
                self.processed += 1
                self.done += 1
            if vectors is not None:
                ids = []
                for prepared in batch:
                    job = prepared.job
                    if job.kind == "embed" and job.row is not None:
                        ids.append(job.row.id)
                        continue
                    if job.kind == "changed" and job.row is not None:
                        self.store.delete_images(conn, [job.row.id])
                    ids.append(
                        self.store.insert_image(conn, self._record(job.file, prepared, "ok"))
                    )
                self.store.add_embeddings(conn, self.model.id, ids, vectors)
                self.report.embedded += len(batch)
                self.processed += len(batch)
                self.done += len(batch)
        return requeue

    def process(self, jobs: list[IndexJob]) -> None:
        """Prepare ``jobs`` in the decode pool while embedding and committing full batches."""
        workers = decode_workers(self.options.workers, self.provider)
        size = self.batch_size
        # Decode this far ahead: the next batch is ready when the model finishes this one.
        window = max(2 * size, 4 * workers)
        queue = list(reversed(jobs))
        batch: list[PreparedPhoto] = []
        others: list[PreparedPhoto] = []
        in_flight: set[Future[PreparedPhoto]] = set()
        with decode_pool(workers, self.provider) as pool:
            try:
                while queue or in_flight or batch or others:
                    while queue and len(in_flight) < window and not self.cancel.cancelled:
                        in_flight.add(pool.submit(self.preparer.prepare, queue.pop()))
                    if in_flight:
                        finished, in_flight = wait(
                            in_flight, timeout=0.5, return_when=FIRST_COMPLETED
                        )
                        for future in finished:
                            prepared = future.result()
                            (batch if prepared.outcome == "decoded" else others).append(prepared)
                            self.emit("indexing", prepared.job.file.path)
                    drained = not in_flight and (not queue or self.cancel.cancelled)
                    if (
                        len(batch) >= size
                        or len(others) >= 4 * size
                        or (drained and (batch or others))
                    ):
                        requeue = self.flush(batch[:size], others)
                        batch = batch[size:]
                        others = []
                        queue.extend(requeue)
                        self.emit("indexing", force=True)
                    if self.cancel.cancelled and not in_flight and not batch and not others:
                        break
            finally:
                for future in in_flight:
                    future.cancel()
        self.preparer.close()

    def remove_missing(self, existing: dict[str, ImageRecord], skipped_prefixes: list[str]) -> None:
        gone = [
            row.id
            for path, row in existing.items()
            if path not in self.seen_paths
            and row.id not in self.claimed
            and not any(path.startswith(prefix) for prefix in skipped_prefixes)
            and not os.path.exists(path)
        ]
        for start in range(0, len(gone), 1000):
            with self.store.write() as conn:
                self.store.delete_images(conn, gone[start : start + 1000])
        self.report.removed = len(gone)


def run_index(
    store: LibraryStore,
    encoder: ImageEncoder,
    model: ModelRow,
    roots: Sequence[tuple[int, str]],
    rules: ScanRules,
    *,
    options: IndexOptions | None = None,
    thumbnails_dir: Path | None = None,
    progress: Callable[[IndexProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> IndexReport:
    """Index ``roots`` (``(root_id, path)``) with ``encoder``; the caller holds the writer lock."""
    run = _Run(store, encoder, model, options or IndexOptions(), thumbnails_dir, progress, cancel)
    run.emit("scanning", force=True)
    scan = scan_roots(roots, rules)
    run.report.problems = scan.problems
    run.report.scanned = len(scan.files)
    existing = store.images_of_roots([root_id for root_id, _ in roots])
    jobs = run.classify(scan.files, existing)
    run.total = len(scan.files)
    run.to_process = len(jobs)
    run.done = run.report.unchanged
    run.emit("indexing", force=True)
    run.process(jobs)
    if run.cancel.cancelled:
        run.report.cancelled = True
    else:
        run.emit("cleaning", force=True)
        skipped = [p.path.rstrip(os.sep) + os.sep for p in scan.problems]
        run.remove_missing(existing, skipped)
        for root_id, path in roots:
            if os.path.isdir(path):
                store.mark_root_indexed(root_id)
    current = store.model_by_id(model.id) or model
    ann = sync_ann_index(store, current, store.library_dir, run.options.ann_params, save=False)
    saved = read_ann_meta(ann_dir(store.library_dir), model.fingerprint)
    if saved is None or saved.revision != ann.revision:
        ann.save(ann_dir(store.library_dir), model.fingerprint)
    # The file on disk now holds everything up to this revision: older log entries are not needed.
    store.prune_log(model.id, ann.revision)
    if not run.report.cancelled and store.missing_embeddings(model.id) == 0:
        store.complete_model(model.id)
        run.report.model_complete = True
    run.report.seconds = time.monotonic() - run.started
    run.emit("done", force=True)
    return run.report
