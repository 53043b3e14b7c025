"""The first search of a process: query encoding beside the index load, same answers."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from dclip_core.errors import BundleError
from dclip_core.library import Library, SearchQuery, SearchResponse
from dclip_core.runtime.bundle import BundleManifest
from dclip_core.runtime.encoders import ClipEncoder
from tests.helpers.images import sample_photo


class ThreadRecordingEncoder:
    """The real encoder, noting which thread embeds each text (the overlap is invisible else)."""

    def __init__(self, encoder: ClipEncoder) -> None:
        self.encoder = encoder
        self.text_threads: list[str] = []

    @property
    def manifest(self) -> BundleManifest:
        return self.encoder.manifest

    @property
    def fingerprint(self) -> str:
        return self.encoder.fingerprint

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return self.encoder.embed_pixels(pixels)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.text_threads.append(threading.current_thread().name)
        return self.encoder.embed_texts(texts)


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: ClipEncoder) -> Path:
    """A library of 12 real photo crops in two folders, indexed with test-tiny."""
    root = tmp_path_factory.mktemp("search")
    sources = ["astronaut", "chelsea", "coffee", "rocket"]
    for i in range(12):
        photo = sample_photo(sources[i % 4])
        w, h = photo.size
        target = root / "photos" / f"album{i % 2}" / f"img{i:02d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        photo.crop((i * 5, i * 3, w - i * 4, h - i * 2)).save(target, quality=85)
    library = Library(root / "library")
    library.index([root / "photos"], encoder=tiny_encoder)
    library.close()
    return root / "library"


def _answer(response: SearchResponse) -> tuple[object, ...]:
    return (
        [(r.image_id, r.score, r.relevant, r.rank) for r in response.results],
        response.relevance,
        response.total_candidates,
    )


QUERY = SearchQuery.from_strings(["a cat on a sofa", "0.5:a rocket"], minus=["people"], limit=10)


def test_a_first_search_encodes_beside_the_index_load_and_answers_as_a_warm_one(
    library_dir: Path, tiny_encoder: ClipEncoder
) -> None:
    cold_encoder = ThreadRecordingEncoder(tiny_encoder)
    cold = Library(library_dir, encoder_loader=lambda model: cold_encoder)
    first = cold.search(QUERY)
    assert cold_encoder.text_threads == ["dclip-encode-query"]

    # The same query in a library whose index is already in memory: encoded in the caller's thread.
    warm_encoder = ThreadRecordingEncoder(tiny_encoder)
    warm = Library(library_dir, encoder_loader=lambda model: warm_encoder)
    warm.search(SearchQuery.from_strings(["warming up"]))
    warm.engine.query_cache = type(warm.engine.query_cache)()
    again = warm.search(QUERY)
    assert warm_encoder.text_threads == ["dclip-encode-query", threading.current_thread().name]

    assert len(first.results) == 10
    assert _answer(first) == _answer(again)
    # Encoded once: the search itself found the helper's vectors in the query cache.
    assert cold.engine.query_cache.misses == 3
    cold.close()
    warm.close()


def test_an_encoding_failure_on_the_first_search_is_raised_and_the_next_search_works(
    library_dir: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    bundle = Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))
    encoder = ClipEncoder.load(bundle, provider="cpu")
    text_model = bundle / encoder.manifest.text.file
    good = text_model.read_bytes()
    text_model.write_bytes(b"not an onnx model")
    library = Library(library_dir, encoder_loader=lambda model: encoder)
    with pytest.raises(BundleError, match=r"text\.onnx"):
        library.search(QUERY)

    text_model.write_bytes(good)  # the user repairs the bundle; the same process searches again
    assert len(library.search(QUERY).results) == 10
    library.close()


def test_text_queries_are_worded_as_the_bundle_says(tiny_bundle: Path, tmp_path: Path) -> None:
    """A bundle's query template ("a photo of {}.") is what the text tower reads at search."""
    import json

    bundle = tmp_path / "worded"
    shutil.copytree(tiny_bundle, bundle)
    manifest = json.loads((bundle / "bundle.json").read_text())
    manifest["text"]["query_template"] = "a photo of {}."
    (bundle / "bundle.json").write_text(json.dumps(manifest))
    encoder = ClipEncoder.load(bundle, provider="cpu")
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut", "chelsea", "coffee"):
        sample_photo(name).convert("RGB").save(photos / f"{name}.png")
    library = Library(tmp_path / "library")
    library.index([photos], encoder=encoder)

    response = library.search(SearchQuery.from_strings(["a cat"], limit=3), encoder=encoder)
    images = encoder.embed_images([r.path for r in response.results])
    worded = encoder.embed_texts(["a photo of a cat."])[0]
    as_typed = encoder.embed_texts(["a cat"])[0]
    scores = [r.score for r in response.results]
    np.testing.assert_allclose(scores, images @ worded, atol=1e-4)
    assert not np.allclose(scores, images @ as_typed, atol=1e-4)
    library.close()
