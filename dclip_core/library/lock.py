"""One writer per library: an OS-level lock on ``writer.lock`` that names the process holding it.

The lock is advisory and held through an open file descriptor (``flock`` on POSIX, ``msvcrt`` on
Windows), so the operating system releases it when the process dies, even on ``kill -9``: a stale
lock file never blocks the next run. The file's content (PID, host, command) only serves the message
the second writer gets. Readers (search) never take the lock; SQLite's WAL lets them read beside the
writer.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from dclip_core.errors import LibraryLockedError

LOCK_FILE_NAME = "writer.lock"

# flock locks belong to an open file description, so two handles in one process also exclude each
# other; this registry only turns that case into a clear message instead of an OS error.
_HELD_IN_PROCESS: set[str] = set()
_HELD_GUARD = threading.Lock()


def _try_lock(handle: IO[str]) -> bool:
    """Take an exclusive non-blocking lock on ``handle``; False when someone else holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(handle: IO[str]) -> None:
    if sys.platform == "win32":
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_lock_owner(library_dir: Path) -> dict[str, object] | None:
    """What the lock file says about its holder (may be stale when nobody holds the lock)."""
    try:
        text = (library_dir / LOCK_FILE_NAME).read_text(encoding="utf-8")
        owner = json.loads(text)
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


class WriterLock:
    """Exclusive right to modify one library, held for the lifetime of a ``with`` block.

    Raises:
        LibraryLockedError: on enter, when another process (or another part of this one) holds it.
    """

    def __init__(self, library_dir: Path) -> None:
        self.library_dir = library_dir
        self.path = library_dir / LOCK_FILE_NAME
        self._handle: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self) -> WriterLock:
        key = str(self.path.resolve())
        with _HELD_GUARD:
            if key in _HELD_IN_PROCESS:
                raise LibraryLockedError(
                    f"library in use by PID {os.getpid()} (this process is already indexing or "
                    f"changing {self.library_dir}); wait for that task to finish"
                )
            self.library_dir.mkdir(parents=True, exist_ok=True)
            # "a+" never truncates: the holder's description stays readable until we own the lock.
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
            if not _try_lock(handle):
                handle.close()
                owner = read_lock_owner(self.library_dir) or {}
                pid = owner.get("pid", "unknown")
                what = f" ({owner['command']})" if owner.get("command") else ""
                raise LibraryLockedError(
                    f"library in use by PID {pid}{what}: {self.library_dir} has one writer at a "
                    "time; wait for it to finish or stop that process, then retry"
                )
            handle.seek(0)
            handle.truncate()
            handle.write(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "host": socket.gethostname(),
                        "command": " ".join(os.path.basename(a) for a in sys.argv[:2]),
                        "since": time.time(),
                    }
                )
            )
            handle.flush()
            self._handle = handle
            _HELD_IN_PROCESS.add(key)
        return self

    def release(self) -> None:
        handle = self._handle
        if handle is None:
            return
        with _HELD_GUARD:
            self._handle = None
            _HELD_IN_PROCESS.discard(str(self.path.resolve()))
            try:
                handle.seek(0)
                handle.truncate()
                _unlock(handle)
            finally:
                handle.close()

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
