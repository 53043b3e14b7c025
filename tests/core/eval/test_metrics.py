"""Retrieval metrics, cross-checked against scikit-learn and a brute-force definition."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from dclip_core.eval.metrics import retrieval_metrics, topk_accuracy


def _random_problem(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_images = 40
    captions_per_image = rng.integers(1, 6, size=n_images)  # 1..5 captions, as in COCO
    caption_image = np.repeat(np.arange(n_images), captions_per_image)
    similarity = rng.normal(size=(n_images, caption_image.size))
    # make the problem learnable so ranks spread over 1..N, not only the tail
    similarity[caption_image, np.arange(caption_image.size)] += rng.uniform(
        0, 3, caption_image.size
    )
    return similarity, caption_image


@pytest.mark.parametrize("seed", [0, 1])
def test_map_and_mrr_agree_with_scikit_learn(seed: int) -> None:
    similarity, caption_image = _random_problem(seed)
    metrics = retrieval_metrics(similarity, caption_image)
    n_images = similarity.shape[0]
    i2t_ap = [average_precision_score(caption_image == i, similarity[i]) for i in range(n_images)]
    t2i_ap = [
        average_precision_score(np.arange(n_images) == caption_image[c], similarity[:, c])
        for c in range(caption_image.size)
    ]
    assert metrics.image_to_text.map == pytest.approx(np.mean(i2t_ap), abs=1e-12)
    assert metrics.text_to_image.map == pytest.approx(np.mean(t2i_ap), abs=1e-12)
    assert metrics.text_to_image.mrr == pytest.approx(metrics.text_to_image.map)
    assert metrics.image_to_text.queries == n_images
    assert metrics.text_to_image.queries == caption_image.size


def test_recall_and_mrr_by_brute_force() -> None:
    similarity, caption_image = _random_problem(5)
    metrics = retrieval_metrics(similarity, caption_image)
    t2i_ranks = []
    for c in range(caption_image.size):
        order = list(np.argsort(-similarity[:, c]))
        t2i_ranks.append(order.index(caption_image[c]) + 1)
    i2t_best = []
    for i in range(similarity.shape[0]):
        order = list(np.argsort(-similarity[i]))
        i2t_best.append(min(order.index(c) + 1 for c in np.flatnonzero(caption_image == i)))
    for k, value in [
        (1, metrics.text_to_image.recall_at_1),
        (5, metrics.text_to_image.recall_at_5),
    ]:
        assert value == pytest.approx(np.mean(np.array(t2i_ranks) <= k))
    assert metrics.image_to_text.recall_at_10 == pytest.approx(np.mean(np.array(i2t_best) <= 10))
    assert metrics.image_to_text.mrr == pytest.approx(np.mean(1 / np.array(i2t_best)))


def test_perfect_and_constant_scores() -> None:
    caption_image = np.array([0, 0, 1, 1, 2])
    perfect = np.where(caption_image[None, :] == np.arange(3)[:, None], 1.0, 0.0)
    metrics = retrieval_metrics(perfect, caption_image)
    assert metrics.text_to_image.recall_at_1 == 1.0
    assert metrics.image_to_text.map == 1.0
    # a model that scores everything equally gets no credit for ties
    flat = retrieval_metrics(np.zeros((3, 5)), caption_image)
    assert flat.text_to_image.recall_at_1 == 0.0
    # image 0 and 1: three irrelevant captions tie with theirs (rank 4); image 2: four (rank 5)
    assert flat.image_to_text.mrr == pytest.approx((1 / 4 + 1 / 4 + 1 / 5) / 3)


def test_images_without_captions_are_not_queries() -> None:
    similarity = np.random.default_rng(0).normal(size=(4, 3))
    metrics = retrieval_metrics(similarity, [0, 0, 2])
    assert metrics.image_to_text.queries == 2
    with pytest.raises(ValueError, match="does not match"):
        retrieval_metrics(similarity, [0, 1])


def test_topk_accuracy() -> None:
    logits = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.5, 0.5, 0.0]])
    acc = topk_accuracy(logits, [0, 0, 1])
    assert acc.top1 == pytest.approx(1 / 3)  # the tie in row 3 counts against it
    assert acc.top5 == 1.0
