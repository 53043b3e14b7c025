"""kill -9 at random moments of indexing never corrupts the library; a rerun finishes exactly."""

from __future__ import annotations

import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dclip_core.library import Library, SearchQuery
from dclip_core.runtime.encoders import ClipEncoder
from tests.helpers.images import sample_photo

REPO = Path(__file__).resolve().parents[3]

CHILD = """
import sys
from pathlib import Path
from dclip_core.library import IndexOptions, Library
from dclip_core.runtime.encoders import ClipEncoder

library_dir, bundle, photos = map(Path, sys.argv[1:4])
encoder = ClipEncoder.load(bundle, provider="cpu")
library = Library(library_dir)
print("ready", flush=True)
library.index(
    [photos],
    encoder=encoder,
    progress=lambda p: print(p.phase, p.done, flush=True),
    options=IndexOptions(batch_size=3, workers=1),
)
print("finished", flush=True)
"""

GOOD, BROKEN = 36, 4


def _make_photos(folder: Path) -> None:
    names = ["astronaut", "chelsea", "coffee", "rocket"]
    for i in range(GOOD):
        photo = sample_photo(names[i % 4]).resize((160 + i, 120 + i))
        target = folder / f"day{i % 3}" / f"p{i:03d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        photo.save(target, quality=80)
    for i in range(BROKEN):
        (folder / f"broken{i}.jpg").write_bytes(b"nope" * (i + 1))


def _check_consistent(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        dupes = conn.execute("SELECT path FROM images GROUP BY path HAVING COUNT(*) > 1").fetchall()
        assert dupes == []
        orphans = conn.execute(
            "SELECT COUNT(*) FROM embeddings e LEFT JOIN images i ON i.id = e.image_id "
            "WHERE i.id IS NULL OR i.status != 'ok'"
        ).fetchone()
        assert orphans == (0,)
        # Every vector has its log entry and the model revision counts them all.
        for model_id, revision in conn.execute("SELECT id, revision FROM models").fetchall():
            (logged,) = conn.execute(
                "SELECT COALESCE(MAX(revision), 0) FROM embedding_log WHERE model_id = ?",
                (model_id,),
            ).fetchone()
            assert logged <= revision
        half = conn.execute(
            "SELECT COUNT(*) FROM images "
            "WHERE status = 'ok' AND (width IS NULL OR content_hash IS NULL)"
        ).fetchone()
        assert half == (0,)
    finally:
        conn.close()


@pytest.mark.slow
def test_kill_9_at_random_points_then_resume(
    tmp_path: Path, tiny_bundle: Path, tiny_encoder: ClipEncoder
) -> None:
    photos = tmp_path / "photos"
    _make_photos(photos)
    library_dir = tmp_path / "library"
    rng = random.Random(20261128)
    kills = 0
    for _trial in range(8):
        if kills >= 3:
            break
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(library_dir), str(tiny_bundle), str(photos)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        # Let it run a random number of progress events, then a random extra moment.
        for _ in range(rng.randint(0, 8)):
            if child.stdout.readline() in ("", "finished\n"):
                break
        time.sleep(rng.uniform(0.0, 0.2))
        killed = child.poll() is None
        if killed:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
        _check_consistent(library_dir / "library.sqlite3")
        reopened = Library(library_dir)  # opens, and searching works whatever was committed
        if reopened.status().images:
            reopened.search(SearchQuery.from_strings(["x"], limit=5))
        reopened.close()
        if not killed:
            # The run finished before the kill (a fast machine): start the next trial from an
            # empty library, so that it has work to interrupt again.
            shutil.rmtree(library_dir)
    assert kills >= 2  # the trials really interrupted runs
    library = Library(library_dir)
    library.index([photos], encoder=tiny_encoder)
    _check_consistent(library_dir / "library.sqlite3")
    status = library.status()
    assert (status.images, status.failed) == (GOOD, BROKEN)
    assert status.models[0].embedded == GOOD
    results = library.search(SearchQuery.from_strings(["x"], limit=100)).results
    assert len({r.path for r in results}) == len(results) == GOOD
