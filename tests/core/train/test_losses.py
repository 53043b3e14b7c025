"""Losses: InfoNCE and the hybrid loss behave as the paper's formulas say."""

from __future__ import annotations

import math

import torch
from torch.nn import functional

from dclip_core.train.losses import hybrid_loss, info_nce, teacher_loss


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
