"""A cancel token: set from any thread, read by long work at its safe stopping points.

One type for every long job — indexing (stops after the batch in flight is committed), training
(stops after the current step, checkpointed), the demo build — so a caller (the app's worker, the
CLI's stdin watcher) stops any of them the same way.
"""

from __future__ import annotations

import sys
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


def cancel_when_stdin_closes(cancel: CancelToken, name: str = "dclip-stdin") -> None:
    """Cancel ``cancel`` once this process's stdin reaches its end (the parent closed it).

    How the app stops a child politely (``--stop-on-eof``): nothing is ever sent on stdin,
    reading it only waits for the parent to close it; a parent that exits closes it too.
    """

    def wait() -> None:
        sys.stdin.read()  # returns at end of file: the parent closed its end
        cancel.cancel()

    threading.Thread(target=wait, name=name, daemon=True).start()
