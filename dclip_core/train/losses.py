"""Losses of the two DCLIP stages (DESIGN.md §6).

- Teacher: symmetric InfoNCE with a fixed temperature between the teacher's global embedding and
  the frozen CLIP sentence embedding of the caption.
- Teacher, optionally (not in the paper, docs/adr/0017): a grounding term on the teacher's
  text→region attention logits, so that a span's attention picks the region that holds what it
  names (:func:`grounding_loss`).
- Student: the hybrid loss ``w_img·(1 − cos(student_image, g)) + w_txt·(1 − cos(student_text,
  base_text)) + w_con·InfoNCE(student_image, student_text)``, plus, when the recipe asks for
  it (not in the paper), ``w_neg`` times a hard-negative term: each image must score its caption
  above the same caption with one binding swapped (:mod:`dclip_core.train.negatives`).

Under DDP the InfoNCE negatives must be the whole global batch, not one rank's share, or the
result would depend on the number of processes: :func:`gather_across_ranks` concatenates every
rank's rows with gradients flowing back to their owners (open_clip's ``gather_with_grad``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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
    grounding: dict[str, torch.Tensor] | None = None,
    grounding_weight: float = 1.0,
) -> LossTerms:
    """The teacher objective: InfoNCE(norm(g), norm(frozen CLIP sentence embedding)).

    Both inputs are gathered across DDP ranks so negatives span the global batch. With
    ``grounding`` (the terms of :func:`grounding_loss`), ``grounding_weight`` times their sum is
    added; the parts then also hold ``grounding`` and each of its terms.
    """
    loss = info_nce(
        gather_across_ranks(teacher_global), gather_across_ranks(sentence_embedding), temperature
    )
    parts = {"contrastive": loss.detach()}
    total = loss
    if grounding:
        grounded = sum(grounding.values(), torch.zeros((), device=loss.device))
        total = loss + grounding_weight * grounded
        parts["grounding"] = grounded.detach()
        parts.update({f"grounding_{k}": v.detach() for k, v in grounding.items()})
    return LossTerms(total=total, parts=parts)


GroundingKind = Literal["none", "contrastive", "linked"]
# Marks a span without a known region in ``grounding_loss``'s ``links``.
NO_LINK = -100


def grounding_loss(
    pair_logits: torch.Tensor,
    span_mask: torch.Tensor,
    links: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Make every head's text→region attention point at the region a span names.

    Two terms, each averaged over layers and heads (every head is asked to point, so the head
    average a visualizer paints points too):

    - ``contrastive`` (weak supervision, no boxes needed; FILIP's late interaction): caption i and
      image j score ``s[i, j] = mean over i's spans of max over j's regions of logit``; symmetric
      cross-entropy over the batch with the true pairs on the diagonal. A span can only raise its
      own caption's score above other images' by matching the region of its own image that holds
      what it names — the other regions of that image appear in other images too.
    - ``linked`` (strong supervision where annotations link a span to a box): cross-entropy of the
      span's attention logits over its own image's regions against the linked region.

    The logits carry their own scale (q/k projections), so no temperature is applied. Negatives
    are this process's micro-batch (not gathered across DDP ranks).

    Args:
        pair_logits: [layers, B, B, heads, Nt, Nr] from ``CrossModalTeacher(..., pairwise=True)``;
            padded regions hold a large negative logit.
        span_mask: [B, Nt] bool, True for real spans.
        links: [B, Nt] long, the region index each span names, or ``NO_LINK``; None skips the
            ``linked`` term.

    Returns:
        ``{"contrastive": …}`` and, with ``links`` holding at least one link, ``"linked"``.
    """
    logits = pair_logits.float()
    layers, batch, _, heads, spans, regions = logits.shape
    weights = span_mask.to(logits.dtype)
    best = logits.amax(dim=-1)  # [L, B, B, H, Nt]
    scores = (best * weights[None, :, None, None, :]).sum(-1) / weights.sum(-1).clamp_min(1)[
        None, :, None, None
    ]  # [L, Bi, Bj, H]
    scores = scores.permute(0, 3, 1, 2).reshape(layers * heads, batch, batch)
    targets = torch.arange(batch, device=logits.device).repeat(layers * heads)
    rows = scores.reshape(-1, batch)
    cols = scores.transpose(1, 2).reshape(-1, batch)
    terms = {
        "contrastive": 0.5
        * (functional.cross_entropy(rows, targets) + functional.cross_entropy(cols, targets))
    }
    if links is not None and bool((links != NO_LINK).any()):
        index = torch.arange(batch, device=logits.device)
        own = logits[:, index, index]  # [L, B, H, Nt, Nr]
        own = own.permute(0, 2, 1, 3, 4).reshape(-1, regions)
        target = links.to(logits.device).masked_fill(~span_mask, NO_LINK)
        target = target[None, None].expand(layers, heads, batch, spans).reshape(-1)
        terms["linked"] = functional.cross_entropy(own, target, ignore_index=NO_LINK)
    return terms


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
    negative_text: torch.Tensor | None = None,
    negative_mask: torch.Tensor | None = None,
    w_neg: float = 0.0,
) -> LossTerms:
    """The student objective of the paper's code (weights 1/1/1 there).

    Args:
        student_image: [N,D] student image embeddings.
        student_text: [N,D] student text embeddings of the paired captions.
        teacher_global: [N,D] teacher global embeddings (no gradient needed).
        base_text: [N,D] frozen base CLIP text embeddings of the same captions.
        w_img, w_txt, w_con: weights of the image distillation, text anchor and contrastive terms.
        temperature: InfoNCE temperature (fixed, 0.05 in the paper).
        negative_text: [N,D] student text embeddings of each caption's hard negative.
        negative_mask: [N] bool, True where a caption has a hard negative.
        w_neg: weight of the hard-negative term (0, the paper, skips it).

    Returns:
        The weighted total and the unweighted terms ``image``, ``text`` and ``contrastive``, and
        ``negative`` when ``w_neg`` > 0 (0 for a batch whose captions have no hard negative).
    """
    image_term = cosine_distance(student_image, teacher_global.detach())
    text_term = cosine_distance(student_text, base_text.detach())
    contrastive = info_nce(
        gather_across_ranks(student_image), gather_across_ranks(student_text), temperature
    )
    total = w_img * image_term + w_txt * text_term + w_con * contrastive
    parts = {
        "image": image_term.detach(),
        "text": text_term.detach(),
        "contrastive": contrastive.detach(),
    }
    if w_neg > 0 and negative_text is not None and negative_mask is not None:
        # Reported even for a batch without one hard negative (as 0), so that every step and
        # every DDP rank reports the same terms.
        negative = (
            hard_negative_loss(
                student_image[negative_mask],
                student_text[negative_mask],
                negative_text[negative_mask],
                temperature,
            )
            if bool(negative_mask.any())
            else student_image.new_zeros(())
        )
        total = total + w_neg * negative
        parts["negative"] = negative.detach()
    return LossTerms(total=total, parts=parts)


def hard_negative_loss(
    image: torch.Tensor, text: torch.Tensor, negative_text: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Cross-entropy of each image choosing its caption over its caption's hard negative.

    A two-way softmax per row (NegCLIP adds the negatives to the whole batch instead; a row's
    other captions are already the contrastive term's business). Local to each DDP rank: every
    row's pair lives on its rank.

    Args:
        image, text, negative_text: [M,D] embeddings, not necessarily normalised.
    """
    image = functional.normalize(image.float(), dim=-1)
    positive = (image * functional.normalize(text.float(), dim=-1)).sum(-1)
    negative = (image * functional.normalize(negative_text.float(), dim=-1)).sum(-1)
    logits = torch.stack([positive, negative], dim=1) / temperature
    return functional.cross_entropy(logits, torch.zeros_like(positive, dtype=torch.long))
