"""A small library of real photo files, recorded as the indexer records them (no model needed)."""

from __future__ import annotations

from pathlib import Path

from dclip_core.library.scanner import content_hash
from dclip_core.library.store import LibraryStore, NewImage
from tests.helpers.images import sample_photo

NAMES = ("astronaut", "chelsea", "coffee", "rocket")


def photo_library(photos: Path, library_dir: Path, count: int = 3) -> list[int]:
    """Write ``count`` photos (``p0.jpg`` at the top, odd ones in ``beach/``; photo i is
    (200 + i) x (100 + i)) and record them in the library; returns their image ids. Calling it
    again with another ``photos`` folder writes byte-identical files."""
    (photos / "beach").mkdir(parents=True, exist_ok=True)
    store = LibraryStore(library_dir)
    root = store.add_root(str(photos))
    ids = []
    with store.write() as conn:
        for i in range(count):
            path = photos / ("beach" if i % 2 else "") / f"p{i}.jpg"
            if not path.exists():
                sample_photo(NAMES[i % 4]).resize((200 + i, 100 + i)).save(path, quality=85)
            size = path.stat().st_size
            digest = content_hash(str(path), size)
            new = NewImage(root.id, str(path), size, 1, digest, "ok", 200 + i, 100 + i)
            ids.append(store.insert_image(conn, new))
    store.close()
    return ids
