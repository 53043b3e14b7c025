"""Explanations in the background, through the app's one worker pattern (ADR 0006).

:class:`ExplainRunner` owns one :class:`~dclip_core.explain.Explainer` per bundle (opened on its
pool thread, on first use) and a one-thread :class:`~dclip_app.workers.WorkerPool`. Each
:meth:`ExplainRunner.request`:

1. cancels the request before it (its task stops at the explainer's next check and reports
   itself cancelled; a cancelled answer never reaches the window);
2. on the pool thread: opens the bundle if needed, explains the photo (the explainer's cache
   answers a repeat without running a model), decodes a display-size copy of the photo;
3. on the GUI thread: emits :attr:`ExplainRunner.explained` with an :class:`ExplainResult`, or
   :attr:`ExplainRunner.failed` with one line a user can act on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from dclip_app.workers import TaskCancelled, TaskControl, Worker, WorkerPool
from dclip_core.cancel import CancelToken
from dclip_core.errors import DclipError

if TYPE_CHECKING:
    from dclip_core.explain import Explainer, Explanation


class ControlCancelToken(CancelToken):
    """The core's cancel token read from (and set on) a worker's :class:`TaskControl`."""

    def __init__(self, control: TaskControl) -> None:
        super().__init__()
        self._control = control

    def cancel(self) -> None:
        self._control.cancel()

    @property
    def cancelled(self) -> bool:
        return self._control.cancelled


@dataclass(frozen=True)
class ExplainRequest:
    """What to explain: a photo and a query, by a method (None: the bundle's default)."""

    photo: Path
    query: str
    method: str | None = None
    span_mode: str | None = None

    @classmethod
    def from_search(cls, photo: Path, search_text: str) -> ExplainRequest:
        """Explain ``photo`` for what was typed in the search field, weights dropped
        (``"a cat, 2:warm light"`` -> ``"a cat, warm light"``)."""
        from dclip_core.library.query import parse_weighted

        terms = [parse_weighted(part.strip())[0] for part in search_text.split(",")]
        return cls(Path(photo), ", ".join(t for t in terms if t.strip()))


@dataclass(frozen=True)
class ExplainResult:
    """An explanation, the photo to draw it on, and what the bundle can do."""

    request: ExplainRequest
    explanation: Explanation
    image: QImage  # display-size copy of the upright photo
    methods: tuple[str, ...]  # the methods the bundle can run, its default first


class ExplainRunner(QObject):
    """Runs explanations of one bundle, newest request wins."""

    started = Signal(object)  # ExplainRequest
    explained = Signal(object)  # ExplainResult
    failed = Signal(str)
    cancelled = Signal()

    def __init__(
        self,
        bundle: Path | None,
        *,
        provider: str = "auto",
        threads: int = 0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bundle = bundle
        self.provider = provider
        self.threads = threads
        self.pool = WorkerPool(max_threads=1, parent=self)
        self.explainer: Explainer | None = None
        self._lock = threading.Lock()
        self._current: Worker | None = None

    @property
    def busy(self) -> bool:
        return self._current is not None

    def set_bundle(self, bundle: Path | None) -> None:
        """Explain with ``bundle`` from now on (opened again on the next request)."""
        if bundle != self.bundle:
            self.cancel()
            with self._lock:
                self.bundle = bundle
                self.explainer = None

    def request(self, request: ExplainRequest) -> Worker:
        """Explain ``request`` in the background, cancelling the one before it."""
        self.cancel()

        def task(control: TaskControl) -> ExplainResult:
            return self._explain(request, ControlCancelToken(control))

        worker: Worker | None = None

        def finished() -> None:
            if self._current is worker:
                self._current = None

        worker = self.pool.start(
            task,
            "explain",
            on_result=self.explained.emit,
            on_error=lambda exc: self.failed.emit(error_message(exc, request)),
            on_cancelled=self.cancelled.emit,
            on_finished=finished,
        )
        self._current = worker
        self.started.emit(request)
        return worker

    def cancel(self) -> None:
        """Cancel the request in flight (its answer is dropped)."""
        if self._current is not None:
            self._current.cancel()
            self._current = None

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self.pool.cancel_all()
        self.pool.wait_for_done(timeout_ms)

    # --- on the pool thread ------------------------------------------------------------------

    def _open(self) -> Explainer:
        from dclip_core.explain import Explainer

        with self._lock:
            if self.explainer is None:
                if self.bundle is None:
                    raise DclipError(
                        "no model bundle is loaded yet; set one up in the main window first"
                    )
                self.explainer = Explainer.load(
                    self.bundle, provider=self.provider, threads=self.threads
                )
            return self.explainer

    def _explain(self, request: ExplainRequest, cancel: CancelToken) -> ExplainResult:
        from dclip_app.explain_state import unavailable_method_reason
        from dclip_core.explain import ExplainCancelledError, display_copy
        from dclip_core.runtime.images import load_image

        explainer = self._open()
        if cancel.cancelled:
            raise TaskCancelled
        if request.method is not None and request.method not in explainer.methods:
            reason = unavailable_method_reason(
                request.method, explainer.methods, explainer.manifest.name
            )
            raise DclipError(f"Cannot show {request.method}: {reason}.")
        try:
            explanation = explainer.explain(
                request.photo,
                request.query,
                method=request.method,
                span_mode=request.span_mode,  # type: ignore[arg-type]  # checked by the core
                cancel=cancel,
            )
        except ExplainCancelledError:
            raise TaskCancelled from None
        decoded = explainer.photo_image(explanation)
        picture = decoded.image if decoded is not None else load_image(request.photo)
        copy = display_copy(picture)
        data = copy.tobytes("raw", "RGB")
        image = QImage(data, copy.width, copy.height, 3 * copy.width, QImage.Format.Format_RGB888)
        return ExplainResult(request, explanation, image.copy(), tuple(explainer.methods))


def error_message(exc: BaseException, request: ExplainRequest) -> str:
    """One line for the window: the core's own words for its errors, else what failed where."""
    if isinstance(exc, DclipError):
        return str(exc)
    return f"Explaining {request.photo.name} failed unexpectedly: {exc!r} (see the log)"
