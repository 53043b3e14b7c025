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
    kept = [f"edit {i}" for i in range(1, last + 1) if i % 3]
    # Every edit the child reported is there; at most the one in flight after it may be too.
    assert captions[: len(kept)] == kept
    assert len(captions) - len(kept) <= 1
    assert [c.position for c in api.captions(image_id)] == list(range(len(captions)))
    boxes = api.boxes(image_id)
    assert [b.label for b in boxes[:last]] == [f"relabelled {i}" for i in range(1, last + 1)]
    assert len(boxes) - last <= 1
    api.add_caption(image_id, "after the crash")  # the library is writable again
