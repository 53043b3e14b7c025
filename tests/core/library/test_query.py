"""Query syntax, the combined query vector and the adaptive relevance cutoff."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dclip_core.library.query import ImageTerm, SearchQuery, TextTerm, parse_weighted
from dclip_core.library.scoring import (
    combine_query,
    median_of,
    relevance_cutoff,
    robust_z_cutoff,
)


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("sunset", ("sunset", 1.0)),
        ("2:sunset", ("sunset", 2.0)),
        ("0.5: beach at night", ("beach at night", 0.5)),
        (".25:fog", ("fog", 0.25)),
        ("C:\\photos\\a.jpg", ("C:\\photos\\a.jpg", 1.0)),
        ("note: red", ("note: red", 1.0)),
        ("3:", ("3:", 1.0)),
        ("2:/home/me/cat.jpg", ("/home/me/cat.jpg", 2.0)),
    ],
)
def test_weight_prefix(term: str, expected: tuple[str, float]) -> None:
    assert parse_weighted(term) == expected


def test_from_strings_builds_terms() -> None:
    query = SearchQuery.from_strings(
        ["beach", "2:sunset"], minus=["people"], images=["1.5:~/cat.jpg"], limit=5
    )
    assert query.texts == (TextTerm("beach"), TextTerm("sunset", 2.0))
    assert query.minus_texts == (TextTerm("people"),)
    assert query.images == (ImageTerm(path=Path("~/cat.jpg").expanduser(), weight=1.5),)
    assert query.limit == 5
    assert query.describe() == f"beach 2:sunset image {Path('~/cat.jpg').expanduser()} -people"
    with pytest.raises(ValueError, match="exactly one"):
        ImageTerm()


def test_combine_query_is_unit_weighted_and_subtracts() -> None:
    a = np.array([1.0, 0.0, 0.0], np.float32)
    b = np.array([0.0, 1.0, 0.0], np.float32)
    c = np.array([0.0, 0.0, 1.0], np.float32)
    q = combine_query([(a, 2.0), (b, 1.0)], [(c, 1.0)])
    assert np.linalg.norm(q) == pytest.approx(1.0)
    assert q[0] == pytest.approx(2 * q[1])
    assert q[2] < 0
    with pytest.raises(ValueError, match="positive"):
        combine_query([], [(a, 1.0)])
    with pytest.raises(ValueError, match="cancel"):
        combine_query([(a, 1.0)], [(a, 1.0)])


def test_relevance_marks_only_what_stands_out_from_the_background() -> None:
    rng = np.random.default_rng(0)
    dim = 64
    query = np.zeros(dim, np.float32)
    query[0] = 1.0
    background = rng.standard_normal((2000, dim)).astype(np.float32)
    background /= np.linalg.norm(background, axis=1, keepdims=True)
    cut = relevance_cutoff(query, background, sensitivity=3.0)
    scores = background @ query
    # Only the far tail of the background passes (about 0.1% for a normal-ish distribution).
    assert (scores >= cut.threshold).mean() < 0.01
    assert cut.sample_size == 2000
    assert cut.background_spread > 0
    close = query + 0.2 * background[0]
    close /= np.linalg.norm(close)
    assert float(close @ query) >= cut.threshold
    # A lower sensitivity lets more through.
    assert relevance_cutoff(query, background, 1.0).threshold < cut.threshold


def test_relevance_is_robust_to_a_large_matching_minority() -> None:
    rng = np.random.default_rng(1)
    dim = 64
    query = np.zeros(dim, np.float32)
    query[0] = 1.0
    noise = rng.standard_normal((2000, dim)).astype(np.float32) * 0.15
    matches = noise[:300] + query  # 15% of the library is about the query
    background = np.concatenate([matches, noise[300:]])
    background /= np.linalg.norm(background, axis=1, keepdims=True)
    cut = relevance_cutoff(query, background, sensitivity=3.0)
    relevant = (background @ query) >= cut.threshold
    assert relevant[:300].mean() > 0.7
    assert relevant[300:].mean() < 0.02
    # The matches scatter widely (cosines 0.4-0.9); a lower sensitivity takes in all of them.
    wider = (background @ query) >= relevance_cutoff(query, background, 1.0).threshold
    assert wider[:300].mean() > 0.95
    assert wider[300:].mean() < 0.02


def test_relevance_cutoff_is_reachable_and_ignores_the_score_scale() -> None:
    # Near misses score high too (a red square for "red circle"): the spread grows with them, and
    # the earlier rule (median + 3 robust SDs) rose above every score.
    rng = np.random.default_rng(5)
    matches = rng.uniform(0.70, 0.85, 20)
    near_misses = rng.uniform(0.45, 0.68, 80)
    rest = rng.uniform(-0.3, 0.45, 200)
    scores = np.concatenate([matches, near_misses, rest]).astype(np.float32)
    assert robust_z_cutoff(scores, 3.0) > scores.max()
    for scale, offset in [(1.0, 0.0), (0.2, 0.15)]:  # a tiny CLIP's cosines, then ViT-B/32-like
        scaled = scale * scores + offset
        sample = np.stack([scaled, np.sqrt(1 - scaled**2)], axis=1).astype(np.float32)
        cut = relevance_cutoff(np.array([1.0, 0.0], np.float32), sample, 3.0)
        marked = scaled >= cut.threshold
        assert marked[:20].mean() > 0.6, scale
        assert not marked[20:].any(), scale
        assert cut.threshold <= cut.best_score == pytest.approx(scaled.max(), abs=1e-6)
    # The library's best match, rarer than one in the sample, raises the bar above near misses.
    sample = np.stack([scores[20:], np.sqrt(1 - scores[20:] ** 2)], axis=1).astype(np.float32)
    query = np.array([1.0, 0.0], np.float32)
    assert relevance_cutoff(query, sample, 3.0, best=0.85).threshold > 0.68


def test_sensitivity_moves_the_cutoff_monotonically() -> None:
    rng = np.random.default_rng(2)
    sample = rng.standard_normal((500, 16)).astype(np.float32)
    sample /= np.linalg.norm(sample, axis=1, keepdims=True)
    thresholds = [relevance_cutoff(sample[0], sample, s).threshold for s in (0, 1, 3, 5, 10)]
    assert thresholds == sorted(thresholds)
    assert len(set(thresholds)) == 5
    assert relevance_cutoff(sample[0], sample, -2).threshold == thresholds[0]


def test_median_of_equals_numpys_median() -> None:
    rng = np.random.default_rng(11)
    arrays = [np.array([0.25], np.float32), np.array([3.0, -1.0]), np.zeros(7, np.float32)]
    for size in [*range(1, 40), 999, 1000, 1001]:
        arrays.append(rng.standard_normal(size).astype(np.float32))
        arrays.append(rng.integers(-3, 3, size).astype(np.float64))  # many ties
    for values in arrays:
        assert median_of(values) == float(np.median(values)), values
    with_nan = rng.standard_normal(100).astype(np.float32)
    with_nan[17] = np.nan
    assert np.isnan(median_of(with_nan))


def test_the_relevance_cutoff_does_not_import_numpy_ma() -> None:
    # np.median would: ~25 ms of every cold search.
    script = (
        "import sys, numpy as np\n"
        "from dclip_core.library.scoring import relevance_cutoff\n"
        "sample = np.random.default_rng(0).standard_normal((1000, 8)).astype(np.float32)\n"
        "relevance_cutoff(sample[0], sample, 2.0)\n"
        "print('numpy.ma' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
