"""kill -9 during a burst of annotation edits loses nothing that was committed."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from dclip_core.library.annotations import Annotations
from dclip_core.library.schema import DB_FILE_NAME
from dclip_core.library.store import LibraryStore
from tests.helpers.photo_rows import photo_library

REPO = Path(__file__).resolve().parents[3]

CHILD = """
import sys
from pathlib import Path
from dclip_core.library.annotations import Annotations
from dclip_core.library.store import LibraryStore

api = Annotations(LibraryStore(Path(sys.argv[1])))
image_id = int(sys.argv[2])
i = 0
while True:  # a person typing fast: caption, box, relabel, delete — until killed
    i += 1
    caption = api.add_caption(image_id, f"edit {i}").first_created()
    box = api.add_box(image_id, i % 100, 1, 50, 20, f"label {i}").first_created()
    api.edit_box(box.id, label=f"relabelled {i}")
    if i % 3 == 0:
        api.delete_caption(caption.id)
    print(i, flush=True)
"""


def test_kill_9_mid_burst_keeps_every_committed_edit(tmp_path: Path) -> None:
    library_dir = tmp_path / "library"
    (image_id,) = photo_library(tmp_path / "photos", library_dir, count=1)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(library_dir), str(image_id)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert child.stdout is not None
    last = 0
    for line in child.stdout:
        last = int(line)
        if last >= 40:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert last >= 40

    raw = sqlite3.connect(library_dir / DB_FILE_NAME)
    assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    raw.close()
    api = Annotations(LibraryStore(library_dir))
    captions = [c.text for c in api.captions(image_id)]
    labels = [b.label for b in api.boxes(image_id)]
    # The child may run ahead of what the parent read (the pipe buffers its lines), so the
    # library holds every reported edit and then some more whole ones, plus at most the one
    # edit in flight at the kill: exactly one of the states the burst passes through.
    reachable = [state for step in range(last + 1, len(labels) + 2) for state in burst_states(step)]
    assert (captions, labels) in reachable
    assert [c.position for c in api.captions(image_id)] == list(range(len(captions)))
    api.add_caption(image_id, "after the crash")  # the library is writable again


def burst_states(step: int) -> list[tuple[list[str], list[str]]]:
    """What the library holds when the child is killed during its `step`-th edit burst."""
    captions = [f"edit {i}" for i in range(1, step) if i % 3]
    labels = [f"relabelled {i}" for i in range(1, step)]
    states = [
        (captions, labels),  # nothing of this step committed yet
        ([*captions, f"edit {step}"], labels),  # caption added
        ([*captions, f"edit {step}"], [*labels, f"label {step}"]),  # box added
        ([*captions, f"edit {step}"], [*labels, f"relabelled {step}"]),  # box relabelled
    ]
    if step % 3 == 0:
        states.append((captions, [*labels, f"relabelled {step}"]))  # caption deleted again
    return states
