"""The hnswlib index: agrees with exact search, survives save/load, refuses damaged files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dclip_core.library.ann import AnnIndex, AnnParams, load_ann_index, read_ann_meta
from dclip_core.library.scoring import exact_search


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _recall_at_10(
    ann: AnnIndex, ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray
) -> float:
    hits = 0
    for q in queries:
        exact_ids, _ = exact_search(q, ids, vectors, 10)
        found, _ = ann.search(q, 10)
        hits += len(set(exact_ids.tolist()) & set(found.tolist()))
    return hits / (10 * len(queries))


def test_scores_are_cosines_and_deleted_ids_never_return(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = _unit(rng, 500, 32)
    ids = np.arange(1000, 1500)
    ann = AnnIndex(32, capacity=10)  # grows on demand
    ann.add(ids, vectors)
    found, scores = ann.search(vectors[7], 5)
    assert found[0] == 1007
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(scores, vectors[found - 1000] @ vectors[7], atol=1e-5)
    ann.remove([1007, 99999])  # an unknown id is ignored
    assert ann.count == 499
    found, _ = ann.search(vectors[7], 20)
    assert 1007 not in found.tolist()


def test_save_load_round_trip_and_damaged_files_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 300, 16)
    ann = AnnIndex(16)
    ann.add(np.arange(300), vectors)
    ann.remove([5])
    ann.revision = 42
    meta = ann.save(tmp_path, "fp")
    assert (meta.revision, meta.count) == (42, 299)
    loaded = load_ann_index(tmp_path, "fp", 16)
    assert loaded is not None
    assert (loaded.revision, loaded.count) == (42, 299)
    q = vectors[3]
    assert loaded.search(q, 10)[0].tolist() == ann.search(q, 10)[0].tolist()
    assert load_ann_index(tmp_path, "fp", 32) is None  # another dimension: rebuild
    hnsw = tmp_path / "fp.hnsw"
    data = bytearray(hnsw.read_bytes())
    data[len(data) // 2] ^= 0xFF
    hnsw.write_bytes(bytes(data))
    assert load_ann_index(tmp_path, "fp", 16) is None
    hnsw.write_bytes(bytes(data[:100]))
    assert load_ann_index(tmp_path, "fp", 16) is None
    hnsw.unlink()
    assert load_ann_index(tmp_path, "fp", 16) is None
    (tmp_path / "fp.json").write_text("{not json")
    assert read_ann_meta(tmp_path, "fp") is None


def test_filtered_search_returns_only_allowed_ids() -> None:
    rng = np.random.default_rng(2)
    vectors = _unit(rng, 2000, 16)
    ann = AnnIndex(16)
    ann.add(np.arange(2000), vectors)
    allowed = set(range(0, 2000, 7))
    found, _ = ann.search(vectors[0], 30, allowed.__contains__)
    assert len(found) == 30
    assert set(found.tolist()) <= allowed
    narrow = {3, 4}
    found, _ = ann.search(vectors[0], 30, narrow.__contains__)
    assert set(found.tolist()) == narrow


@pytest.mark.slow
def test_recall_at_10_on_100k_random_unit_vectors_at_default_settings() -> None:
    """Acceptance: ANN vs exact on 100k random unit vectors, recall@10 >= 0.99 (defaults).

    32-d, the test model's embedding size; see AnnParams for why not uniformly random 512-d.
    """
    rng = np.random.default_rng(123)
    vectors = _unit(rng, 100_000, 32)
    ids = np.arange(1, 100_001)
    ann = AnnIndex(32, AnnParams(), capacity=len(ids))
    ann.add(ids, vectors)
    queries = _unit(rng, 200, 32)
    assert _recall_at_10(ann, ids, vectors, queries) >= 0.99
