"""A library of three small photos, recorded as the indexer records them (no model needed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from dclip_core.library.annotations import Annotations
from dclip_core.library.store import LibraryStore
from tests.helpers.photo_rows import photo_library


@dataclass(frozen=True)
class PhotoLibrary:
    """Photo ``i`` is ``(200 + i) x (100 + i)`` pixels; ``stored()`` reads the database afresh."""

    photos: Path
    library_dir: Path
    ids: list[int]

    def stored(self) -> Annotations:
        """A new connection: what is really in the database, not what a window remembers."""
        return Annotations(LibraryStore(self.library_dir))


@pytest.fixture
def photo_rows(tmp_path: Path) -> PhotoLibrary:
    ids = photo_library(tmp_path / "photos", tmp_path / "library", 3)
    return PhotoLibrary(tmp_path / "photos", tmp_path / "library", ids)
