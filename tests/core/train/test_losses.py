"""Losses: InfoNCE and the hybrid loss behave as the paper's formulas say."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional

from dclip_core.models.teacher import CrossModalTeacher
from dclip_core.train.losses import (
    NO_LINK,
    PAPER_TEMPERATURE,
    grounding_loss,
    hard_negative_loss,
    hybrid_loss,
    info_nce,
    teacher_loss,
)


def test_info_nce_is_symmetric_cross_entropy_over_cosines() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    logits = functional.normalize(a, dim=-1) @ functional.normalize(b, dim=-1).T / 0.05
    expected = torch.tensor(0.0)
    for i in range(6):
        expected += -torch.log_softmax(logits[i], 0)[i] - torch.log_softmax(logits[:, i], 0)[i]
    torch.testing.assert_close(info_nce(a, b, 0.05), expected / 12)
    torch.testing.assert_close(info_nce(a, b), info_nce(b, a))


def test_info_nce_rewards_aligned_pairs() -> None:
    x = torch.eye(4)
    assert info_nce(x, 3 * x) < 1e-6
    assert math.isclose(float(info_nce(x, torch.ones(4, 4))), math.log(4), rel_tol=1e-5)


def test_hybrid_loss_weights_its_terms() -> None:
    g = torch.Generator().manual_seed(1)
    img, txt, teacher, base = (torch.randn(5, 8, generator=g) for _ in range(4))
    terms = hybrid_loss(img, txt, teacher, base, w_img=2.0, w_txt=0.5, w_con=0.0)
    parts = terms.parts
    torch.testing.assert_close(
        parts["image"], (1 - functional.cosine_similarity(img, teacher)).mean()
    )
    torch.testing.assert_close(parts["text"], (1 - functional.cosine_similarity(txt, base)).mean())
    torch.testing.assert_close(parts["contrastive"], info_nce(img, txt))
    torch.testing.assert_close(terms.total, 2.0 * parts["image"] + 0.5 * parts["text"])
    assert set(terms.as_floats()) == {"loss", "image", "text", "contrastive"}


def test_hybrid_loss_sends_no_gradient_to_its_targets() -> None:
    img = torch.randn(4, 8, requires_grad=True)
    teacher = torch.randn(4, 8, requires_grad=True)
    hybrid_loss(img, torch.randn(4, 8), teacher, torch.randn(4, 8)).total.backward()
    assert img.grad is not None
    assert teacher.grad is None


def test_teacher_loss_is_info_nce() -> None:
    g, s = torch.randn(4, 8), torch.randn(4, 8)
    torch.testing.assert_close(teacher_loss(g, s).total, info_nce(g, s, 0.05))


def _pointing_logits(batch: int, spans: int, regions: int, correct: bool) -> torch.Tensor:
    """[1, B, B, 1, Nt, Nr] logits: span t of caption i scores 5 on region (i + t) of its own
    image (and on the same object in no other image) when ``correct``; flat otherwise."""
    logits = torch.zeros(1, batch, batch, 1, spans, regions)
    if correct:
        for i in range(batch):
            for t in range(spans):
                logits[0, i, i, 0, t, (i + t) % regions] = 5.0
    return logits


def test_grounding_loss_is_low_when_spans_point_at_their_own_regions() -> None:
    mask = torch.ones(4, 2, dtype=torch.bool)
    good = grounding_loss(_pointing_logits(4, 2, 3, True), mask)["contrastive"]
    flat = grounding_loss(_pointing_logits(4, 2, 3, False), mask)["contrastive"]
    assert float(flat) == pytest.approx(math.log(4), rel=1e-5)  # no caption tells images apart
    assert float(good) < 0.1


def test_linked_grounding_is_cross_entropy_towards_the_named_box() -> None:
    logits = torch.zeros(1, 2, 2, 1, 2, 3)
    logits[0, 0, 0, 0, 0] = torch.tensor([2.0, 0.0, 0.0])
    links = torch.tensor([[0, NO_LINK], [NO_LINK, NO_LINK]])
    terms = grounding_loss(logits, torch.ones(2, 2, dtype=torch.bool), links)
    expected = -torch.log_softmax(torch.tensor([2.0, 0.0, 0.0]), 0)[0]
    torch.testing.assert_close(terms["linked"], expected)
    unlinked = grounding_loss(logits, torch.ones(2, 2, dtype=torch.bool), torch.full((2, 2), -100))
    assert "linked" not in unlinked


def test_padded_spans_do_not_count_towards_grounding() -> None:
    logits = _pointing_logits(3, 2, 3, True)
    logits[0, :, :, 0, 1] = torch.randn(3, 3, 3)  # the second span is padding: noise
    mask = torch.tensor([[True, False]] * 3)
    clean = _pointing_logits(3, 2, 3, True)
    torch.testing.assert_close(
        grounding_loss(logits, mask)["contrastive"], grounding_loss(clean, mask)["contrastive"]
    )


def test_teacher_loss_adds_weighted_grounding_terms() -> None:
    g, s = torch.randn(4, 8), torch.randn(4, 8)
    grounding = {"contrastive": torch.tensor(2.0), "linked": torch.tensor(1.0)}
    terms = teacher_loss(g, s, grounding=grounding, grounding_weight=0.5)
    torch.testing.assert_close(terms.total, info_nce(g, s, 0.05) + 1.5)
    assert set(terms.as_floats()) == {
        "loss",
        "contrastive",
        "grounding",
        "grounding_contrastive",
        "grounding_linked",
    }


def test_grounding_reaches_the_text_to_region_weights_of_a_regions_target_teacher() -> None:
    """The issue's finding: with one layer and a region-only target, nothing trains the
    text→region attention; the grounding term does."""
    torch.manual_seed(0)
    teacher = CrossModalTeacher(16, heads=2, layers=1, target="regions")
    text, regions = torch.randn(3, 2, 16), torch.randn(3, 3, 16)
    text_mask, region_mask = torch.ones(3, 2, dtype=torch.bool), torch.ones(3, 3, dtype=torch.bool)
    sentence = torch.randn(3, 16)
    query = teacher.blocks[0].text_to_region.q_proj.weight

    out = teacher(text, text_mask, regions, region_mask)
    teacher_loss(out.global_embedding, sentence).total.backward()
    assert query.grad is None or float(query.grad.abs().sum()) == 0.0

    teacher.zero_grad()
    out = teacher(text, text_mask, regions, region_mask, pairwise=True)
    assert out.pair_logits is not None
    terms = grounding_loss(out.pair_logits, text_mask)
    teacher_loss(out.global_embedding, sentence, grounding=terms).total.backward()
    assert query.grad is not None
    assert float(query.grad.abs().sum()) > 0.0


def test_hard_negative_term_is_a_two_way_choice_per_image() -> None:
    g = torch.Generator().manual_seed(2)
    img, txt, neg, teacher = (torch.randn(4, 8, generator=g) for _ in range(4))
    mask = torch.tensor([True, False, True, True])
    terms = hybrid_loss(img, txt, teacher, txt, negative_text=neg, negative_mask=mask, w_neg=0.5)
    cos = functional.cosine_similarity
    logits = torch.stack([cos(img, txt), cos(img, neg)], dim=1)[mask] / PAPER_TEMPERATURE
    expected = -torch.log_softmax(logits, dim=1)[:, 0].mean()
    torch.testing.assert_close(terms.parts["negative"], expected)
    paper = hybrid_loss(img, txt, teacher, txt)
    torch.testing.assert_close(terms.total, paper.total + 0.5 * expected)
    assert "negative" not in paper.parts


def test_hard_negative_term_is_low_when_images_match_their_own_caption() -> None:
    x = torch.eye(4)
    swapped = x.roll(1, dims=1)
    right = hard_negative_loss(x, x, swapped, PAPER_TEMPERATURE)
    wrong = hard_negative_loss(x, swapped, x, PAPER_TEMPERATURE)
    assert right < 1e-6
    assert wrong > 10


def test_a_batch_without_hard_negatives_still_reports_the_term() -> None:
    img, txt = torch.randn(3, 8), torch.randn(3, 8)
    terms = hybrid_loss(
        img,
        txt,
        img,
        txt,
        negative_text=txt,
        negative_mask=torch.zeros(3, dtype=torch.bool),
        w_neg=1.0,
    )
    assert float(terms.parts["negative"]) == 0.0
    torch.testing.assert_close(terms.total, hybrid_loss(img, txt, img, txt).total)
