"""``--data library=PATH``: the library's annotations become training records."""

from __future__ import annotations

from pathlib import Path

import pytest

from dclip_core.config.paths import get_paths
from dclip_core.errors import DatasetError
from dclip_core.library.annotations import Annotations
from dclip_core.library.store import LibraryStore
from dclip_core.train.datasets import DatasetSource, read_sources
from tests.helpers.photo_rows import photo_library


def test_library_annotations_are_training_records(tmp_path: Path) -> None:
    library_dir = get_paths().library_dir  # the user's library (DCLIP_HOME of the test)
    photos = tmp_path / "photos"
    ids = photo_library(photos, library_dir, count=3)
    api = Annotations(LibraryStore(library_dir))
    api.add_caption(ids[0], "an astronaut")
    api.add_caption(ids[0], "a woman in a suit")
    api.add_box(ids[0], 10, 20, 30, 40, "person")
    api.add_box(ids[0], 0, 0, 5, 5, "helmet", source="detector")  # a suggestion: not ground truth
    api.add_box(ids[1], 1, 1, 10, 10, "cat")  # boxes but no caption

    records, report = read_sources([DatasetSource("library", photos)])
    assert [(r.path.name, r.captions, r.source) for r in records] == [
        ("p0.jpg", ["an astronaut", "a woman in a suit"], "library")
    ]
    assert records[0].boxes is not None
    assert [tuple(b) for b in records[0].boxes] == [(10.0, 20.0, 40.0, 60.0, "person")]
    assert report.reasons() == {"no caption": 1}

    whole, _ = read_sources([DatasetSource("library", library_dir)])  # a library folder
    assert [r.path.name for r in whole] == ["p0.jpg"]
    only_beach, _ = read_sources([DatasetSource("library", photos / "beach")])
    assert only_beach == []  # p1 has no caption
    with pytest.raises(DatasetError, match="no annotated photos under"):
        read_sources([DatasetSource("library", tmp_path / "elsewhere")])
