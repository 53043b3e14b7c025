"""Region vectors: a library indexed with a grid of crops finds photos by a detail and says where.

Real photos, the real indexer and the tiny random-init bundle: what is checked is what holds for
any model — every view of a photo is embedded and stored, a photo scores as its best view, a
search by a crop of a photo finds that photo through the crop, and layouts never mix.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dclip_core.errors import LibraryError
from dclip_core.library import IndexOptions, Library, SearchQuery
from dclip_core.library.regions import (
    LABEL_STRIDE,
    LAYOUTS,
    crop_views,
    describe_box,
    library_fingerprint,
    views,
)
from dclip_core.library.schema import DB_FILE_NAME, SCHEMA_VERSION
from dclip_core.library.scoring import best_per_image
from dclip_core.library.store import LibraryStore
from dclip_core.runtime.encoders import ClipEncoder
from tests.helpers.images import sample_photo

GRID = LAYOUTS["grid"]


def _photos(folder: Path) -> list[Path]:
    """Six distinct real photos saved losslessly (PNG), so a re-read gives the same pixels."""
    folder.mkdir(parents=True)
    paths = []
    for i, source in enumerate(["astronaut", "chelsea", "coffee", "rocket", "astronaut", "coffee"]):
        photo = sample_photo(source).convert("RGB")
        if i >= 4:
            photo = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        path = folder / f"photo{i}.png"
        photo.resize((160 + 16 * i, 120 + 8 * i)).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def grid_library(
    tmp_path_factory: pytest.TempPathFactory, tiny_encoder: ClipEncoder
) -> tuple[Library, list[Path]]:
    root = tmp_path_factory.mktemp("regions")
    photos = _photos(root / "photos")
    library = Library(root / "library")
    report = library.index(
        [root / "photos"], encoder=tiny_encoder, options=IndexOptions(regions="grid")
    )
    assert report.embedded == len(photos)
    return library, photos


def test_every_view_of_a_photo_is_embedded_and_stored(
    grid_library: tuple[Library, list[Path]], tiny_encoder: ClipEncoder
) -> None:
    library, photos = grid_library
    (model,) = library.models()
    assert model.regions == "grid"
    assert model.active
    assert model.fingerprint == library_fingerprint(tiny_encoder.fingerprint, "grid")
    store = LibraryStore(library.library_dir)
    try:
        row = store.image_by_path(str(photos[2]))
        assert row is not None
        model_row = store.active_model()
        assert model_row is not None
        assert model_row.views == len(GRID) + 1
        _, stored = store.vectors_of(model_row.id, [row.id])
    finally:
        store.close()
    with Image.open(photos[2]) as image:
        expected = tiny_encoder.embed_images(crop_views(image.convert("RGB"), "grid"))
    np.testing.assert_allclose(stored[0].reshape(len(GRID) + 1, -1), expected, atol=1e-5)


def test_a_crop_of_a_photo_finds_the_photo_and_where_it_lies(
    grid_library: tuple[Library, list[Path]], tmp_path: Path
) -> None:
    library, photos = grid_library
    detail = tmp_path / "detail.png"
    with Image.open(photos[3]) as image:
        crop_views(image.convert("RGB"), "grid")[4].save(detail)  # the bottom-right crop

    unfiltered = library.search(SearchQuery.from_strings(images=[str(detail)], limit=3))
    filtered = library.search(
        SearchQuery.from_strings(images=[str(detail)], folders=(photos[0].parent,), limit=3)
    )
    for response in (unfiltered, filtered):  # the ANN path and the exact path agree
        best = response.results[0]
        assert best.path == photos[3]
        assert best.score == pytest.approx(1.0, abs=1e-4)
        assert best.region == GRID[3]
        assert describe_box(GRID[3]) == "bottom right"
        assert len({r.image_id for r in response.results}) == len(response.results)
    assert unfiltered.total_candidates == len(photos)


def test_text_search_ranks_photos_by_their_best_view(
    grid_library: tuple[Library, list[Path]], tiny_encoder: ClipEncoder
) -> None:
    library, photos = grid_library
    response = library.search(SearchQuery.from_strings(["a cat on a sofa"], limit=len(photos)))
    query = tiny_encoder.embed_texts(["a cat on a sofa"])[0]
    expected = {}
    for path in photos:
        with Image.open(path) as image:
            view_vectors = tiny_encoder.embed_images(crop_views(image.convert("RGB"), "grid"))
        scores = view_vectors @ query
        expected[path] = (float(scores.max()), int(scores.argmax()))
    assert [r.path for r in response.results] == sorted(photos, key=lambda p: -expected[p][0])
    for result in response.results:
        score, view = expected[result.path]
        assert result.score == pytest.approx(score, abs=1e-4)
        assert result.region == (views("grid")[view] if view else None)


def _grid_library(tmp_path: Path, encoder: ClipEncoder) -> tuple[Library, list[Path]]:
    """A fresh library of :func:`_photos` indexed with the grid layout."""
    photos = _photos(tmp_path / "photos")
    library = Library(tmp_path / "library")
    library.index([tmp_path / "photos"], encoder=encoder, options=IndexOptions(regions="grid"))
    return library, photos


def test_layouts_never_mix_and_reindexing_keeps_the_library_choice(
    tmp_path: Path, tiny_encoder: ClipEncoder
) -> None:
    library, photos = _grid_library(tmp_path, tiny_encoder)
    # No layout given: the library's own is kept, nothing is embedded again.
    again = library.index(encoder=tiny_encoder, options=IndexOptions())
    assert again.embedded == 0
    assert again.model_fingerprint.endswith("+grid")

    plain = library.index(encoder=tiny_encoder, options=IndexOptions(regions="none"))
    assert plain.embedded == len(photos)
    assert plain.model_fingerprint == tiny_encoder.fingerprint
    models = {m.regions: m for m in library.models()}
    assert models["none"].active
    assert not models["grid"].active
    response = library.search(SearchQuery.from_strings(["a rocket"], limit=10))
    assert len(response.results) == len(photos)
    assert all(r.region is None for r in response.results)

    with pytest.raises(LibraryError, match="unknown region layout 'tiles'"):
        library.index(encoder=tiny_encoder, options=IndexOptions(regions="tiles"))
    library.close()


def test_a_removed_photo_leaves_with_all_its_views(
    tmp_path: Path, tiny_encoder: ClipEncoder
) -> None:
    library, photos = _grid_library(tmp_path, tiny_encoder)
    # The first search loads the ANN index (and saves it): the removal must reach the saved index.
    library.search(SearchQuery.from_strings(["a cat"], limit=1))
    os.remove(photos[1])
    report = library.index(encoder=tiny_encoder)
    assert report.removed == 1
    response = library.search(SearchQuery.from_strings(["a cat"], limit=10))
    assert photos[1] not in [r.path for r in response.results]
    assert response.total_candidates == len(photos) - 1
    library.close()


def test_a_version_1_library_is_migrated_without_losing_its_vectors(
    tmp_path: Path, tiny_encoder: ClipEncoder
) -> None:
    _photos(tmp_path / "photos")
    library = Library(tmp_path / "library")
    library.index([tmp_path / "photos"], encoder=tiny_encoder)
    before = library.search(SearchQuery.from_strings(["a cup of coffee"], limit=10))
    library.close()
    # Make it the database an earlier DCLIP wrote: no regions column, schema version 1.
    raw = sqlite3.connect(tmp_path / "library" / DB_FILE_NAME)
    for table in ("caption_links", "boxes", "captions", "labels"):  # version 3's annotations
        raw.execute(f"DROP TABLE {table}")
    raw.execute("ALTER TABLE models DROP COLUMN regions")
    raw.execute("UPDATE schema_version SET version = 1")
    raw.commit()
    raw.close()

    reopened = Library(tmp_path / "library")
    assert reopened.status().schema_version == SCHEMA_VERSION
    assert [m.regions for m in reopened.models()] == ["none"]
    after = reopened.search(SearchQuery.from_strings(["a cup of coffee"], limit=10))
    assert [(r.path, round(r.score, 5)) for r in after.results] == [
        (r.path, round(r.score, 5)) for r in before.results
    ]
    reopened.close()


def test_grouping_keeps_each_image_once_at_its_best_view() -> None:
    labels = np.array(
        [3 * LABEL_STRIDE + 2, 5 * LABEL_STRIDE, 3 * LABEL_STRIDE, 9 * LABEL_STRIDE + 4]
    )
    scores = np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32)
    images, best, which = best_per_image(labels, scores, limit=2)
    assert images.tolist() == [3, 5]
    assert best.tolist() == pytest.approx([0.9, 0.8])
    assert which.tolist() == [2, 0]


def test_views_cover_the_whole_photo_and_name_their_place() -> None:
    boxes = views("grid")
    assert boxes[0] == (0.0, 0.0, 1.0, 1.0)
    covered = np.zeros((100, 100), dtype=bool)
    for left, top, right, bottom in boxes[1:]:
        covered[round(top * 100) : round(bottom * 100), round(left * 100) : round(right * 100)] = (
            True
        )
    assert covered.all()
    assert [describe_box(b) for b in boxes] == [
        "centre",
        "top left",
        "top right",
        "bottom left",
        "bottom right",
    ]
    image = Image.new("RGB", (300, 100))
    assert [v.size for v in crop_views(image, "grid")] == [(300, 100)] + [(180, 60)] * 4
