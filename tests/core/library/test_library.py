"""Indexing and searching a real folder through the public :class:`Library` API.

One module-scoped library holds real photos of every format plus the hostile corpus; tests that
change files work on their own copies.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from dclip_core.errors import LibraryError, LibraryLockedError
from dclip_core.library import (
    CancelToken,
    IndexOptions,
    IndexProgress,
    Library,
    SearchQuery,
)
from dclip_core.library.ann import read_ann_meta
from dclip_core.library.ann_sync import ann_dir
from dclip_core.library.lock import WriterLock
from dclip_core.runtime.encoders import ClipEncoder
from tests.helpers.images import (
    USABLE,
    sample_photo,
    write_hostile_files,
    write_real_photos,
)


def _fresh_library(tmp_path: Path) -> Library:
    return Library(tmp_path / "library")


@pytest.fixture(scope="module")
def corpus(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, Path], dict[str, str]]:
    root = tmp_path_factory.mktemp("corpus")
    photos = write_real_photos(root / "photos")
    hostile = write_hostile_files(root / "hostile")
    return root, photos, hostile


@pytest.fixture(scope="module")
def indexed(
    corpus: tuple[Path, dict[str, Path], dict[str, str]],
    tiny_encoder: ClipEncoder,
    tmp_path_factory: pytest.TempPathFactory,
) -> Library:
    root, _, _ = corpus
    library = Library(tmp_path_factory.mktemp("lib") / "library")
    library.index([root], encoder=tiny_encoder)
    return library


def _copy_photos(tmp_path: Path, names: int = 8) -> Path:
    """A small folder of distinct real photos (crops of the samples), in sub-folders."""
    folder = tmp_path / "photos"
    sources = ["astronaut", "chelsea", "coffee", "rocket"]
    for i in range(names):
        photo = sample_photo(sources[i % 4])
        w, h = photo.size
        crop = photo.crop((i * 7, i * 5, w - i * 3, h - i * 2))
        target = folder / f"album{i % 2}" / f"img{i:02d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        crop.save(target, quality=85)
    return folder


def test_real_and_hostile_files_indexed_with_reasons(
    corpus: tuple[Path, dict[str, Path], dict[str, str]],
    indexed: Library,
    tiny_encoder: ClipEncoder,
) -> None:
    root, photos, hostile = corpus
    usable = {name for name, code in hostile.items() if code == USABLE}
    failed = {f.path.name: f for f in indexed.failed_files()}
    broken = {
        name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"): code
        for name, code in hostile.items()
        if code != USABLE
    }
    assert len(broken) >= 20
    assert {name: failed[name].code for name in broken} == broken
    assert all(f.reason for f in failed.values())
    assert set(failed) == set(broken)  # nothing else failed: every real photo was usable
    status = indexed.status()
    assert status.images == len(photos) + len(usable)
    assert status.failed == len(broken)
    (root_info,) = status.roots
    assert (root_info.path, root_info.status) == (root, "ok")
    assert status.active_model is not None
    assert status.active_model.fingerprint == tiny_encoder.fingerprint
    response = indexed.search(SearchQuery.from_strings(["a photo"], limit=100))
    found = {r.path for r in response.results}
    assert found == set(photos.values()) | {root / "hostile" / n for n in usable}
    assert [r.rank for r in response.results] == list(range(1, len(found) + 1))
    scores = [r.score for r in response.results]
    assert scores == sorted(scores, reverse=True)


def test_thumbnails_made_during_indexing(indexed: Library, corpus: tuple) -> None:
    _, photos, _ = corpus
    record = indexed.image_by_path(photos["large-camera.jpg"])
    assert record is not None
    assert (record.width, record.height) == (4000, 3000)
    thumb = indexed.thumbnail_path(record.id)
    assert thumb is not None
    assert thumb.is_file()
    assert thumb.is_relative_to(indexed.thumbnails_dir)


def test_image_by_example_returns_itself_first(
    indexed: Library, corpus: tuple, tmp_path: Path
) -> None:
    _, photos, _ = corpus
    for path in photos.values():
        response = indexed.search(SearchQuery.from_strings(images=[str(path)], limit=3))
        top = response.results[0]
        assert top.path == path
        assert top.score == pytest.approx(1.0, abs=1e-4)
    # A file outside the library is embedded on the fly; its twin in the library comes first.
    outside = tmp_path / "outside.png"
    shutil.copy(photos["chelsea.png"], outside)
    response = indexed.search(SearchQuery.from_strings(images=[str(outside)], limit=1))
    assert response.results[0].path == photos["chelsea.png"]


def test_second_run_reads_nothing_and_failures_are_not_retried(
    indexed: Library, tiny_encoder: ClipEncoder, corpus: tuple
) -> None:
    root, _, _ = corpus
    report = indexed.index([root], encoder=tiny_encoder)
    assert report.unchanged == report.scanned > 0
    assert (report.embedded, report.failed, report.removed, report.reused) == (0, 0, 0, 0)


def test_folder_and_date_filters(indexed: Library, corpus: tuple) -> None:
    _, photos, _ = corpus
    hostile_folder = photos["chelsea.png"].parent.parent / "hostile"
    query = SearchQuery.from_strings(["x"], folders=(hostile_folder,), limit=50)
    assert {r.path.parent for r in indexed.search(query).results} == {hostile_folder}
    old = indexed.search(SearchQuery.from_strings(["x"], before="2020-01-01", limit=50))
    assert [r.path.name for r in old.results] == ["sideways.jpg"]
    assert old.results[0].taken_at == "2019-12-24T18:30:00"
    window = SearchQuery.from_strings(["x"], after="2021-06-01", before="2021-06-02", limit=50)
    assert [r.path.name for r in indexed.search(window).results] == ["astronaut.jpg"]


def test_relevance_threshold_is_exposed_and_consistent(indexed: Library, corpus: tuple) -> None:
    _, photos, _ = corpus
    response = indexed.search(
        SearchQuery.from_strings(images=[str(photos["coffee.webp"])], limit=50)
    )
    cut = response.relevance
    assert cut.sample_size == indexed.status().images
    assert all(r.relevant == (r.score >= cut.threshold) for r in response.results)
    assert cut.threshold > cut.background_median
    # The random test model scores everything alike, so whether anything stands out is not
    # asserted here; tests/core/library/test_query.py covers the cutoff on controlled vectors.


def test_rename_move_copy_delete(tmp_path: Path, tiny_encoder: ClipEncoder) -> None:
    folder = _copy_photos(tmp_path)
    library = _fresh_library(tmp_path)
    first = library.index([folder], encoder=tiny_encoder)
    assert (first.embedded, first.failed) == (8, 0)
    before = {r.path.name: r.image_id for r in _all(library)}

    (folder / "album0").rename(folder / "renamed album")
    report = library.index(encoder=tiny_encoder)
    assert (report.embedded, report.moved, report.removed) == (0, 4, 0)
    after = {r.path.name: (r.image_id, r.path.parent.name) for r in _all(library)}
    assert {name: image_id for name, (image_id, _) in after.items()} == before
    assert {p for _, p in after.values()} == {"renamed album", "album1"}

    shutil.copy(folder / "album1" / "img01.jpg", folder / "album1" / "copy.jpg")
    report = library.index(encoder=tiny_encoder)
    assert (report.embedded, report.copied) == (0, 1)

    (folder / "album1" / "img01.jpg").unlink()
    (folder / "album1" / "img03.jpg").unlink()
    report = library.index(encoder=tiny_encoder)
    assert report.removed == 2
    names = {r.path.name for r in _all(library)}
    assert "img01.jpg" not in names
    assert "img03.jpg" not in names
    assert "copy.jpg" in names
    assert library.status().images == 7


def _all(library: Library) -> list:
    return library.search(SearchQuery.from_strings(["photo"], limit=1000)).results


def test_changed_file_is_re_embedded_and_fixed_file_leaves_failures(
    tmp_path: Path, tiny_encoder: ClipEncoder
) -> None:
    folder = _copy_photos(tmp_path, names=2)
    broken = folder / "album0" / "broken.jpg"
    broken.write_bytes(b"not yet a photo")
    library = _fresh_library(tmp_path)
    library.index([folder], encoder=tiny_encoder)
    assert [f.path for f in library.failed_files()] == [broken]
    sample_photo("rocket").save(broken)
    edited = folder / "album0" / "img00.jpg"
    sample_photo("coffee").save(edited)
    report = library.index(encoder=tiny_encoder)
    assert (report.embedded, report.failed) == (2, 0)
    assert library.failed_files() == []
    hit = library.search(SearchQuery.from_strings(images=[str(edited)], limit=1)).results[0]
    assert hit.path == edited


def test_damaged_or_missing_ann_file_is_rebuilt_with_same_results(
    tmp_path: Path, tiny_encoder: ClipEncoder
) -> None:
    folder = _copy_photos(tmp_path)
    library = _fresh_library(tmp_path)
    library.index([folder], encoder=tiny_encoder)
    query = SearchQuery.from_strings(["a red bus"], limit=8)
    expected = [(r.path, round(r.score, 5)) for r in library.search(query).results]
    hnsw = ann_dir(library.library_dir) / f"{tiny_encoder.fingerprint}.hnsw"
    assert hnsw.is_file()
    hnsw.write_bytes(b"\x00garbage" * 100)
    fresh = Library(library.library_dir)  # a new process would start like this
    assert [(r.path, round(r.score, 5)) for r in fresh.search(query).results] == expected
    assert hnsw.stat().st_size > 800  # written back, valid
    hnsw.unlink()
    again = Library(library.library_dir)
    assert [(r.path, round(r.score, 5)) for r in again.search(query).results] == expected
    assert hnsw.is_file()


def test_second_writer_gets_lock_message(tmp_path: Path, tiny_encoder: ClipEncoder) -> None:
    folder = _copy_photos(tmp_path, names=2)
    library = _fresh_library(tmp_path)
    with (
        WriterLock(library.library_dir),
        pytest.raises(LibraryLockedError, match=f"library in use by PID {os.getpid()}"),
    ):
        library.index([folder], encoder=tiny_encoder)


def test_search_reads_beside_a_running_indexer_and_cancel_resumes(
    tmp_path: Path, tiny_encoder: ClipEncoder
) -> None:
    folder = _copy_photos(tmp_path, names=12)
    library = _fresh_library(tmp_path)
    reader = Library(library.library_dir)
    cancel = CancelToken()
    seen: list[int] = []

    def on_progress(progress: IndexProgress) -> None:
        if progress.phase != "indexing" or progress.embedded == 0:
            return
        # A reader in the same moment: sees the batches committed so far, never an error.
        seen.append(len(reader.search(SearchQuery.from_strings(["x"], limit=100)).results))
        cancel.cancel()

    options = IndexOptions(batch_size=4, workers=1)
    report = library.index(
        [folder], encoder=tiny_encoder, progress=on_progress, cancel=cancel, options=options
    )
    assert report.cancelled
    assert seen
    assert 0 < seen[0] < 12
    assert not report.model_complete
    resumed = library.index(encoder=tiny_encoder, options=options)
    assert resumed.unchanged + resumed.embedded == 12
    assert resumed.model_complete
    assert len(reader.search(SearchQuery.from_strings(["x"], limit=100)).results) == 12


def test_forget_root_removes_its_photos(tmp_path: Path, tiny_encoder: ClipEncoder) -> None:
    folder = _copy_photos(tmp_path, names=4)
    library = _fresh_library(tmp_path)
    library.index([folder], encoder=tiny_encoder)
    assert library.remove_root(folder) == 4
    assert library.status().images == 0
    assert library.roots() == []
    with pytest.raises(LibraryError, match="not a folder of this library"):
        library.remove_root(folder)
    conn = sqlite3.connect(library.library_dir / "library.sqlite3")
    assert conn.execute("SELECT COUNT(*) FROM embeddings").fetchone() == (0,)


def test_new_model_takes_over_only_when_complete(
    tmp_path: Path, tiny_bundle: Path, tiny_encoder: ClipEncoder
) -> None:
    # A second, genuinely different model: the same towers with another resize mode.
    other_bundle = tmp_path / "tiny-squash"
    shutil.copytree(tiny_bundle, other_bundle)
    manifest = json.loads((other_bundle / "bundle.json").read_text())
    manifest["name"] = "test-tiny-squash"
    manifest["image"]["preprocess"]["resize_mode"] = "squash"
    (other_bundle / "bundle.json").write_text(json.dumps(manifest))
    other = ClipEncoder.load(other_bundle, provider="cpu")
    assert other.fingerprint != tiny_encoder.fingerprint

    folder = _copy_photos(tmp_path, names=9)
    library = _fresh_library(tmp_path)
    library.index([folder], encoder=tiny_encoder)
    query = SearchQuery.from_strings(["x"], limit=3)
    assert library.search(query).model_fingerprint == tiny_encoder.fingerprint

    cancel = CancelToken()

    def stop_after_first_batch(progress: IndexProgress) -> None:
        if progress.embedded:
            cancel.cancel()

    options = IndexOptions(batch_size=3, workers=1)
    partial = library.index(
        encoder=other, progress=stop_after_first_batch, cancel=cancel, options=options
    )
    assert partial.cancelled
    assert 0 < partial.embedded < 9
    # Searches keep using the complete model while the new one is partial.
    assert library.search(query).model_fingerprint == tiny_encoder.fingerprint
    assert {m.name: (m.active, m.complete) for m in library.models()} == {
        "test-tiny": (True, True),
        "test-tiny-squash": (False, False),
    }
    done = library.index(encoder=other, options=options)
    assert done.model_complete
    assert done.embedded == 9 - partial.embedded
    assert library.search(query).model_fingerprint == other.fingerprint


def test_index_file_is_saved_at_the_latest_revision_and_log_pruned(
    tmp_path: Path, tiny_encoder: ClipEncoder
) -> None:
    folder = _copy_photos(tmp_path, names=4)
    library = _fresh_library(tmp_path)
    library.index([folder], encoder=tiny_encoder)
    sample_photo("rocket").resize((90, 70)).save(folder / "album0" / "new.png")
    library.index(encoder=tiny_encoder)
    db = sqlite3.connect(library.library_dir / "library.sqlite3")
    (revision,) = db.execute("SELECT revision FROM models").fetchone()
    assert db.execute("SELECT COUNT(*) FROM embedding_log").fetchone() == (0,)
    meta = read_ann_meta(ann_dir(library.library_dir), tiny_encoder.fingerprint)
    assert meta is not None
    assert (meta.revision, meta.count) == (revision, 5)


def test_repeated_text_query_is_served_from_the_cache(indexed: Library) -> None:
    cache = indexed.engine.query_cache
    query = SearchQuery.from_strings(["a lighthouse in fog"], limit=5)
    first = indexed.search(query)
    misses, hits = cache.misses, cache.hits
    second = indexed.search(query)
    assert cache.misses == misses
    assert cache.hits > hits
    assert [r.image_id for r in second.results] == [r.image_id for r in first.results]
