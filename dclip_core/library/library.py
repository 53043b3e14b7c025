"""The :class:`Library` facade: what the CLI and the desktop app call.

Typical use::

    with Library.open() as library:                    # settings.library_dir under DCLIP_HOME
        encoder = ClipEncoder.load(bundle_path)        # dclip_core.runtime.encoders
        library.index([Path("~/Pictures").expanduser()], encoder=encoder,
                      progress=on_progress, cancel=token)         # from a worker thread
        response = library.search(SearchQuery.from_strings(["two dogs in the snow"]))

Threads: a ``Library`` may be shared between threads. Each thread gets its own SQLite connection;
:meth:`index` (and the other writing methods) take the library's writer lock, so a second writer —
another thread or another process — gets :class:`~dclip_core.errors.LibraryLockedError` ("library in
use by PID …") at once instead of waiting. Searches never take it: they read beside the writer.

Models: vectors are stored per model fingerprint (with the region layout they were indexed with,
:mod:`dclip_core.library.regions`). Searches use the *active* model, the last one
that finished embedding every photo; while a new model is being indexed, searches keep using the
previous one. The encoder for searches is loaded from the active model's bundle on first use
(or pass ``encoder=``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from dclip_core.config.paths import get_paths
from dclip_core.config.settings import Settings, load_settings
from dclip_core.errors import ImageDecodeError, LibraryError
from dclip_core.library.ann import AnnParams
from dclip_core.library.annotations import Annotations
from dclip_core.library.decoder import FAILURE_CODES, thumbnail_file, write_thumbnail
from dclip_core.library.encoder import Encoder, ImageEncoder
from dclip_core.library.index_types import CancelToken, IndexOptions, IndexProgress, IndexReport
from dclip_core.library.indexer import run_index
from dclip_core.library.lock import WriterLock, read_lock_owner
from dclip_core.library.query import SearchQuery, SearchResponse
from dclip_core.library.regions import DEFAULT_LAYOUT, check_layout, library_fingerprint
from dclip_core.library.scanner import ScanRules
from dclip_core.library.schema import SCHEMA_VERSION
from dclip_core.library.search import SearchEngine
from dclip_core.library.store import ImageRecord, LibraryStore, ModelRow
from dclip_core.runtime.images import load_image

log = logging.getLogger(__name__)

EncoderLoader = Callable[[ModelRow], Encoder]


@dataclass(frozen=True)
class RootInfo:
    """A folder of the library with its counts.

    ``status``: ``"ok"``, ``"missing"`` (folder not found: unplugged drive, renamed) or
    ``"not indexed"`` (added, never indexed).
    """

    path: Path
    images: int
    failed: int
    status: str
    last_indexed_at: float | None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    fingerprint: str
    embed_dim: int
    bundle_path: Path | None
    embedded: int
    complete: bool
    active: bool
    regions: str = "none"


@dataclass(frozen=True)
class FailedFile:
    path: Path
    code: str
    reason: str
    size_bytes: int


@dataclass(frozen=True)
class LibraryStatus:
    library_dir: Path
    schema_version: int
    images: int
    failed: int
    roots: list[RootInfo]
    models: list[ModelInfo]
    active_model: ModelInfo | None
    writer_pid: int | None


def default_encoder_loader(model: ModelRow) -> Encoder:
    """Load the encoder of a stored model from its bundle (ONNX Runtime, no torch)."""
    from dclip_core.runtime.encoders import ClipEncoder

    if not model.bundle_path:
        raise LibraryError(
            f"the library's model {model.name} has no bundle on record; re-index with --model"
        )
    settings = load_settings()
    return ClipEncoder.load(
        model.bundle_path, provider=settings.execution_provider, threads=settings.threads
    )


class Library:
    """A photo library: its folders, their photos' vectors, and search over them."""

    def __init__(
        self,
        library_dir: Path,
        *,
        settings: Settings | None = None,
        ann_params: AnnParams | None = None,
        encoder_loader: EncoderLoader = default_encoder_loader,
        verify_files: bool = True,
    ) -> None:
        """Open the library in ``library_dir`` (created and migrated if needed).

        Args:
            library_dir: the library folder (database, ANN files, writer lock).
            settings: the user's settings (default: loaded from disk).
            ann_params: hnswlib settings (defaults chosen by measurement, see AnnParams).
            encoder_loader: loads a stored model's encoder for text searches.
            verify_files: drop search results whose file has vanished since indexing.
        """
        self.library_dir = Path(library_dir)
        self.settings = settings or load_settings()
        self.ann_params = ann_params or AnnParams()
        self.thumbnails_dir = get_paths().thumbnails_dir
        self._encoder_loader = encoder_loader
        self._encoders: dict[str, Encoder] = {}
        self._local = threading.local()
        self._stores: list[LibraryStore] = []
        self._guard = threading.Lock()
        self.engine = SearchEngine(self.library_dir, self.ann_params, verify_files=verify_files)
        self._store()  # create / migrate now, so errors surface on open

    @classmethod
    def open(cls, library_dir: Path | None = None, *, settings: Settings | None = None) -> Library:
        """Open (creating if needed) the library in ``library_dir`` (default: the user's)."""
        return cls(library_dir or get_paths().library_dir, settings=settings)

    def close(self) -> None:
        with self._guard:
            for store in self._stores:
                store.close()
            self._stores.clear()
            self._local = threading.local()

    def __enter__(self) -> Library:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _store(self) -> LibraryStore:
        store = getattr(self._local, "store", None)
        if store is None:
            store = LibraryStore(self.library_dir)
            with self._guard:
                self._stores.append(store)
            self._local.store = store
        return store

    def writer_lock(self) -> WriterLock:
        """The lock every writing method takes (exposed for tools that batch several writes)."""
        return WriterLock(self.library_dir)

    # --- roots ------------------------------------------------------------------------------------

    def roots(self) -> list[RootInfo]:
        store = self._store()
        counts = store.root_counts()
        out = []
        for root in store.roots():
            by_status = counts.get(root.id, {})
            if not os.path.isdir(root.path):
                status = "missing"
            elif root.last_indexed_at is None:
                status = "not indexed"
            else:
                status = "ok"
            out.append(
                RootInfo(
                    path=Path(root.path),
                    images=by_status.get("ok", 0),
                    failed=by_status.get("failed", 0),
                    status=status,
                    last_indexed_at=root.last_indexed_at,
                )
            )
        return out

    def add_root(self, path: Path) -> RootInfo:
        """Add a folder (not indexed yet). Raises LibraryError when it is not a folder."""
        folder = os.path.abspath(os.path.expanduser(path))
        if not os.path.isdir(folder):
            raise LibraryError(f"{folder} is not a folder; give the folder that holds the photos")
        with self.writer_lock():
            self._store().add_root(folder)
        return next(r for r in self.roots() if str(r.path) == folder)

    def remove_root(self, path: Path) -> int:
        """Forget a folder: its photos leave the library (files untouched). Returns how many.

        Raises:
            LibraryError: ``path`` is not one of the library's folders.
        """
        folder = os.path.abspath(os.path.expanduser(path))
        store = self._store()
        root = store.root_by_path(folder)
        if root is None:
            known = ", ".join(r.path for r in store.roots()) or "none"
            raise LibraryError(
                f"{folder} is not a folder of this library (folders: {known}); to skip a "
                "sub-folder, add it to the excluded patterns in the settings"
            )
        with self.writer_lock():
            return store.delete_root(root.id)

    # --- indexing ---------------------------------------------------------------------------------

    def scan_rules(self) -> ScanRules:
        return ScanRules(
            exclude_patterns=tuple(self.settings.exclude_patterns),
            include_hidden=self.settings.index_hidden,
        )

    def index_options(self, **changes: Any) -> IndexOptions:
        """The library's indexing options (thumbnail size and ANN settings from its settings),
        with ``changes`` applied, e.g. ``regions="grid"``."""
        return IndexOptions(
            thumbnail_size=self.settings.thumbnail_size, ann_params=self.ann_params, **changes
        )

    def region_layout(self) -> str:
        """The region layout of the active model's vectors (``none`` before a first complete
        indexing). One row read: the app asks from its GUI thread."""
        model = self._store().active_model()
        return model.regions if model is not None else "none"

    def index(
        self,
        roots: Sequence[Path] | None = None,
        *,
        encoder: ImageEncoder,
        progress: Callable[[IndexProgress], None] | None = None,
        cancel: CancelToken | None = None,
        options: IndexOptions | None = None,
    ) -> IndexReport:
        """Bring the library up to date: add ``roots`` (default: all folders) and index them.

        Safe to call from a worker thread; ``progress`` is called from that thread. Raises
        LibraryLockedError when another writer holds the library, LibraryError for a root that is
        not a folder.
        """
        options = options or self.index_options()
        with self.writer_lock():
            store = self._store()
            chosen = []
            for path in roots or []:
                folder = os.path.abspath(os.path.expanduser(path))
                if not os.path.isdir(folder):
                    raise LibraryError(
                        f"{folder} is not a folder; give the folder that holds the photos"
                    )
                chosen.append(store.add_root(folder))
            if not roots:
                chosen = store.roots()
                if not chosen:
                    raise LibraryError("the library has no folders yet; run `dclip index FOLDER`")
            manifest = encoder.manifest
            layout = _region_layout(store, encoder.fingerprint, options.regions)
            model = store.ensure_model(
                encoder.fingerprint,
                manifest.name,
                manifest.embed_dim,
                str(manifest.path),
                regions=layout,
            )
            if callable(getattr(encoder, "embed_texts", None)):
                # The same model will answer searches: reuse its loaded sessions.
                with self._guard:
                    self._encoders.setdefault(model.fingerprint, cast(Encoder, encoder))
            return run_index(
                store,
                encoder,
                model,
                [(r.id, r.path) for r in chosen],
                self.scan_rules(),
                options=options,
                thumbnails_dir=self.thumbnails_dir,
                progress=progress,
                cancel=cancel,
            )

    # --- search -----------------------------------------------------------------------------------

    def search_model(self) -> ModelRow | None:
        """The model searches use: the active one, else (first indexing still running) the one
        with the most vectors."""
        store = self._store()
        active = store.active_model()
        if active is not None:
            return active
        best: tuple[int, ModelRow] | None = None
        for model in store.models():
            count = len(store.embedded_ids(model.id))
            if count and (best is None or count > best[0]):
                best = (count, model)
        return best[1] if best else None

    def encoder_for(self, model: ModelRow) -> Encoder:
        with self._guard:
            encoder = self._encoders.get(model.fingerprint)
        if encoder is None:
            encoder = self._encoder_loader(model)
            with self._guard:
                self._encoders[model.fingerprint] = encoder
        return encoder

    def search(self, query: SearchQuery, *, encoder: Encoder | None = None) -> SearchResponse:
        """Search the library (read-only; safe beside a running indexer).

        Raises:
            LibraryError: nothing indexed yet, an empty query, or an unusable example image.
        """
        model = self.search_model()
        if model is None:
            raise LibraryError("the library has no indexed photos yet; run `dclip index FOLDER`")
        if encoder is None and (query.texts or query.minus_texts or _needs_encoder(self, query)):
            encoder = self.encoder_for(model)
        return self.engine.search(
            self._store(), model, encoder, query, self.settings.relevance_sensitivity
        )

    # --- inspection -------------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        store = self._store()
        active = store.state("active_model")
        return [
            ModelInfo(
                name=m.name,
                fingerprint=m.fingerprint,
                embed_dim=m.embed_dim,
                bundle_path=Path(m.bundle_path) if m.bundle_path else None,
                embedded=len(store.embedded_ids(m.id)),
                complete=m.completed_at is not None,
                active=m.fingerprint == active,
                regions=m.regions,
            )
            for m in store.models()
        ]

    def status(self) -> LibraryStatus:
        store = self._store()
        counts = store.counts()
        models = self.models()
        owner = read_lock_owner(self.library_dir)
        pid = owner.get("pid") if owner else None
        return LibraryStatus(
            library_dir=self.library_dir,
            schema_version=SCHEMA_VERSION,
            images=counts.get("ok", 0),
            failed=counts.get("failed", 0),
            roots=self.roots(),
            models=models,
            active_model=next((m for m in models if m.active), None),
            writer_pid=pid if isinstance(pid, int) else None,
        )

    def failed_files(self, limit: int | None = None) -> list[FailedFile]:
        """Files that could not be used, with the reason (not retried until they change)."""
        return [
            FailedFile(
                path=Path(row.path),
                code=row.error_code or "unreadable",
                reason=row.error or FAILURE_CODES.get(row.error_code or "", "unknown"),
                size_bytes=row.size,
            )
            for row in self._store().failed_images(limit)
        ]

    def image(self, image_id: int) -> ImageRecord | None:
        return self._store().image(image_id)

    def annotations(self) -> Annotations:
        """The calling thread's view of the photos' annotations (reads and one-transaction edits;
        :mod:`dclip_core.library.annotations`). Edits do not take the writer lock."""
        return Annotations(self._store())

    def image_by_path(self, path: Path) -> ImageRecord | None:
        return self._store().image_by_path(os.path.abspath(os.path.expanduser(path)))

    def thumbnail_path(self, image_id: int) -> Path | None:
        """The cached thumbnail of a photo, made now if it is missing; None if it cannot be."""
        row = self._store().image(image_id)
        if row is None or row.status != "ok" or not row.content_hash:
            return None
        size = self.settings.thumbnail_size
        target = thumbnail_file(self.thumbnails_dir, row.content_hash, size)
        if target.exists():
            return target
        try:
            image = load_image(Path(row.path), min_side=size)
            write_thumbnail(image.convert("RGB"), target, size)
        except (OSError, ImageDecodeError) as exc:
            # The caller shows a placeholder; the file itself is re-checked at the next indexing.
            log.warning("cannot make the thumbnail of %s: %s", row.path, exc)
            return None
        return target


def _needs_encoder(library: Library, query: SearchQuery) -> bool:
    """Whether an example image of the query must be embedded (it is not in the library)."""
    for term in (*query.images, *query.minus_images):
        if term.path is not None and library.image_by_path(term.path) is None:
            return True
    return False


def _region_layout(store: LibraryStore, bundle_fingerprint: str, asked: str | None) -> str:
    """The region layout an indexing run uses: the one asked for, else the active model's when
    it is the same bundle (re-indexing keeps the library's choice), else none."""
    if asked is not None:
        try:
            return check_layout(asked)
        except ValueError as exc:
            raise LibraryError(str(exc)) from None
    active = store.active_model()
    if active is not None and active.fingerprint == library_fingerprint(
        bundle_fingerprint, active.regions
    ):
        return active.regions
    return DEFAULT_LAYOUT
