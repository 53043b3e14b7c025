"""One writer per library; the second gets a message naming the holder's PID."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dclip_core.errors import LibraryLockedError
from dclip_core.library.lock import WriterLock

HOLD_LOCK = """
import sys, time
from pathlib import Path
from dclip_core.library.lock import WriterLock
lock = WriterLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_second_process_gets_pid_in_message_and_lock_frees_on_kill(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LibraryLockedError, match=f"library in use by PID {holder.pid}"):
            WriterLock(tmp_path).acquire()
    finally:
        holder.kill()  # SIGKILL: the OS must release the lock
        holder.wait()
    with WriterLock(tmp_path) as lock:
        assert lock.held


def test_same_process_second_writer_is_refused(tmp_path: Path) -> None:
    with WriterLock(tmp_path), pytest.raises(LibraryLockedError, match=f"PID {os.getpid()}"):
        WriterLock(tmp_path).acquire()
    with WriterLock(tmp_path):
        pass  # released on exit
