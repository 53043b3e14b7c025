"""A cancel token: set from any thread, read by long work at its safe stopping points.

One type for every long job — indexing (stops after the batch in flight is committed), training
(stops after the current step, checkpointed), the demo build — so a caller (the app's worker, the
CLI's stdin watcher) stops any of them the same way.
"""

from __future__ import annotations

import threading


class CancelToken:
    """Set from any thread to stop a run at its next safe point."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()
