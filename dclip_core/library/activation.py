"""Switching the library to another model, and back in one step (``dclip models activate`` /
``rollback``).

Vectors are stored per model, so switching is cheap when the target's vectors are all there:

1. :func:`activate` with a bundle's encoder: if the library already holds a complete set of that
   model's vectors (same bundle, same region layout), the active model flips at once; otherwise
   the library is indexed with it — searches keep using the current model until every photo has
   a vector of the new one, when the indexer makes it active. A cancelled or failed embedding
   leaves the current model active.
2. The model that was active is recorded as ``previous_model`` in the library's state.
3. :func:`rollback` makes the previous model active again (and the current one previous, so a
   second rollback undoes the first). Nothing is embedded when its vectors are still complete;
   photos added since are embedded with its bundle first.

The region layout of the active model carries over to the new one (a library indexed with
``--regions grid`` stays so).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dclip_core.errors import DclipError, LibraryError
from dclip_core.library.encoder import Encoder, ImageEncoder
from dclip_core.library.index_types import CancelToken, IndexProgress, IndexReport
from dclip_core.library.library import Library, default_encoder_loader
from dclip_core.library.regions import DEFAULT_LAYOUT, library_fingerprint
from dclip_core.library.store import LibraryStore, ModelRow

PREVIOUS_KEY = "previous_model"
ACTIVE_KEY = "active_model"


@dataclass(frozen=True)
class ModelSwitch:
    """What a switch did.

    Attributes:
        switched: the library now searches with ``active``.
        active: the model searches use after the call.
        previous: the model ``rollback`` goes back to (None when there is none).
        embedded: photos embedded for the switch (0 when the vectors were stored).
        report: the indexing run, when one was needed.
    """

    switched: bool
    active: ModelRow | None
    previous: ModelRow | None
    embedded: int
    report: IndexReport | None = None


def _flip(
    library: Library, store: LibraryStore, active: ModelRow, previous: ModelRow | None
) -> None:
    with library.writer_lock(), store.write() as conn:
        store.set_state(conn, ACTIVE_KEY, active.fingerprint)
        if previous is not None and previous.fingerprint != active.fingerprint:
            store.set_state(conn, PREVIOUS_KEY, previous.fingerprint)


def _complete(store: LibraryStore, model: ModelRow | None) -> bool:
    return (
        model is not None
        and model.completed_at is not None
        and store.missing_embeddings(model.id) == 0
    )


def _switch_to(
    library: Library,
    store: LibraryStore,
    encoder: ImageEncoder,
    layout: str,
    before: ModelRow | None,
    progress: Callable[[IndexProgress], None] | None,
    cancel: CancelToken | None,
) -> ModelSwitch:
    target = store.model(library_fingerprint(encoder.fingerprint, layout))
    if _complete(store, target):
        assert target is not None
        _flip(library, store, target, before)
        return ModelSwitch(True, target, before, 0)
    report = library.index(
        encoder=encoder,
        progress=progress,
        cancel=cancel,
        options=library.index_options(regions=layout),
    )
    now = store.active_model()
    fingerprint = library_fingerprint(encoder.fingerprint, layout)
    if now is None or now.fingerprint != fingerprint:
        return ModelSwitch(False, now, before, report.embedded, report)
    _flip(library, store, now, before)
    return ModelSwitch(True, now, before, report.embedded, report)


def activate(
    library: Library,
    encoder: ImageEncoder,
    *,
    progress: Callable[[IndexProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> ModelSwitch:
    """Make ``encoder``'s bundle the library's model (steps 1–2 of the module docstring).

    Raises:
        LibraryError: the library has no folders, or it is locked by another writer.
    """
    store = LibraryStore(library.library_dir)
    try:
        before = store.active_model()
        layout = before.regions if before is not None else DEFAULT_LAYOUT
        if before is not None and before.fingerprint == library_fingerprint(
            encoder.fingerprint, layout
        ):
            previous_fp = store.state(PREVIOUS_KEY)
            previous = store.model(previous_fp) if previous_fp else None
            return ModelSwitch(True, before, previous, 0)
        return _switch_to(library, store, encoder, layout, before, progress, cancel)
    finally:
        store.close()


def rollback(
    library: Library,
    *,
    encoder_loader: Callable[[ModelRow], Encoder] = default_encoder_loader,
    progress: Callable[[IndexProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> ModelSwitch:
    """Go back to the model that was active before the last switch (step 3).

    Raises:
        LibraryError: no previous model on record, or its vectors are gone and its bundle too.
    """
    store = LibraryStore(library.library_dir)
    try:
        fingerprint = store.state(PREVIOUS_KEY)
        previous = store.model(fingerprint) if fingerprint else None
        if previous is None:
            raise LibraryError(
                "no previous model to roll back to; `dclip models activate BUNDLE` records one"
            )
        current = store.active_model()
        if _complete(store, previous):
            _flip(library, store, previous, current)
            return ModelSwitch(True, previous, current, 0)
        try:
            encoder = encoder_loader(previous)
        except DclipError as exc:  # its bundle moved or broke: say which, keep the current model
            raise LibraryError(
                f"cannot roll back to {previous.name}: {store.missing_embeddings(previous.id)} "
                f"photos need its vectors and its bundle {previous.bundle_path} cannot be loaded "
                f"({exc})"
            ) from exc
        return _switch_to(library, store, encoder, previous.regions, current, progress, cancel)
    finally:
        store.close()
