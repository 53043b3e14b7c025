"""Losses of the two DCLIP stages (DESIGN.md §6).

- Teacher: symmetric InfoNCE with a fixed temperature between the teacher's global embedding and
  the frozen CLIP sentence embedding of the caption.
- Student: the hybrid loss ``w_img·(1 − cos(student_image, g)) + w_txt·(1 − cos(student_text,
  base_text)) + w_con·InfoNCE(student_image, student_text)``.

Under DDP the InfoNCE negatives must be the whole global batch, not one rank's share, or the
result would depend on the number of processes: :func:`gather_across_ranks` concatenates every
rank's rows with gradients flowing back to their owners (open_clip's ``gather_with_grad``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional

PAPER_TEMPERATURE = 0.05


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sums every rank's gradient and returns this rank's share."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.rows = dist.get_rank(), x.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_across_ranks(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` [b, ...] of every DDP rank in rank order; identity outside DDP.

    Gradients flow back to each rank's own rows. Each rank then computes the loss on the full
    batch; since the gather's backward sums the ranks' gradients and DDP averages them, the
    resulting gradient equals the single-process gradient of the same global batch (every rank
    must hold the same number of rows, which the loop guarantees).
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    gathered: torch.Tensor = _GatherWithGrad.apply(x)
    return gathered


def info_nce(
    a: torch.Tensor, b: torch.Tensor, temperature: float = PAPER_TEMPERATURE
) -> torch.Tensor:
    """Symmetric InfoNCE between row-paired embeddings ``a`` [N,D] and ``b`` [N,D].

    Both are L2-normalised here; row i of ``a`` is the positive of row i of ``b`` and every other
    row is a negative. Returns ``(CE(a·bᵀ/τ, diag) + CE(b·aᵀ/τ, diag)) / 2``.
    """
    a = functional.normalize(a.float(), dim=-1)
    b = functional.normalize(b.float(), dim=-1)
    logits = a @ b.T / temperature
    targets = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (
        functional.cross_entropy(logits, targets) + functional.cross_entropy(logits.T, targets)
    )


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over rows of ``1 − cos(a_i, b_i)``."""
    return (1.0 - functional.cosine_similarity(a.float(), b.float(), dim=-1)).mean()


@dataclass
class LossTerms:
    """A total loss and its named parts (the parts are detached, for logging)."""

    total: torch.Tensor
    parts: dict[str, torch.Tensor]

    def as_floats(self) -> dict[str, float]:
        out = {"loss": float(self.total.detach())}
        out.update({name: float(value) for name, value in self.parts.items()})
        return out


def teacher_loss(
    teacher_global: torch.Tensor,
    sentence_embedding: torch.Tensor,
    temperature: float = PAPER_TEMPERATURE,
) -> LossTerms:
    """The teacher objective: InfoNCE(norm(g), norm(frozen CLIP sentence embedding)).

    Both inputs are gathered across DDP ranks so negatives span the global batch.
    """
    loss = info_nce(
        gather_across_ranks(teacher_global), gather_across_ranks(sentence_embedding), temperature
    )
    return LossTerms(total=loss, parts={"contrastive": loss.detach()})


def hybrid_loss(
    student_image: torch.Tensor,
    student_text: torch.Tensor,
    teacher_global: torch.Tensor,
    base_text: torch.Tensor,
    *,
    w_img: float = 1.0,
    w_txt: float = 1.0,
    w_con: float = 1.0,
    temperature: float = PAPER_TEMPERATURE,
) -> LossTerms:
    """The student objective of the paper's code (weights 1/1/1 there).

    Args:
        student_image: [N,D] student image embeddings.
        student_text: [N,D] student text embeddings of the paired captions.
        teacher_global: [N,D] teacher global embeddings (no gradient needed).
        base_text: [N,D] frozen base CLIP text embeddings of the same captions.
        w_img, w_txt, w_con: weights of the image distillation, text anchor and contrastive terms.
        temperature: InfoNCE temperature (fixed, 0.05 in the paper).

    Returns:
        The weighted total and the unweighted terms ``image``, ``text`` and ``contrastive``.
    """
    image_term = cosine_distance(student_image, teacher_global.detach())
    text_term = cosine_distance(student_text, base_text.detach())
    contrastive = info_nce(
        gather_across_ranks(student_image), gather_across_ranks(student_text), temperature
    )
    total = w_img * image_term + w_txt * text_term + w_con * contrastive
    return LossTerms(
        total=total,
        parts={
            "image": image_term.detach(),
            "text": text_term.detach(),
            "contrastive": contrastive.detach(),
        },
    )
