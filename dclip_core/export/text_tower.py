"""An export-only CLIP text tower whose ONNX graph accepts any sequence length (torch).

CLIP's text transformer is causal and pools at the end-of-text token (or the first one), so the
padding after the last end token of a batch cannot change any output that is read: running on ids
trimmed to ``max(end index) + 1`` gives the same embeddings and token states at a fraction of the
77 positions (docs/adr/0009-fast-text-queries.md).

open_clip's blocks use ``nn.MultiheadAttention``, whose TorchScript export bakes the traced
sequence length into its reshapes (ONNX Runtime then fails with ``Reshape {..}->{77,6,32}`` on any
other length). :class:`DynamicLengthTextTower` reuses the same parameter tensors (no copy) but
writes the attention with shapes taken from its input, and slices the positional embedding and the
causal mask to the input length, so the exported graph contains no fixed length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - the conventional name
from open_clip import CLIP
from torch import nn

from dclip_core.errors import ExportError

# Poolings that read only positions up to the end token; trimming cannot change what they read.
_TRIM_SAFE_POOLS = ("argmax", "eos", "first")
_SUPPORTED_POOLS = (*_TRIM_SAFE_POOLS, "last")


def pooling_of(model: CLIP) -> tuple[str, int]:
    """The text pooling of ``model`` and its end-token id (-1 when it names none).

    Raises:
        ExportError: a pooling the exporter cannot express.
    """
    pool_type = str(getattr(model, "text_pool_type", "argmax"))
    if pool_type not in _SUPPORTED_POOLS:
        raise ExportError(
            f"text pooling {pool_type!r} is not supported by the exporter "
            f"(supported: {', '.join(_SUPPORTED_POOLS)})"
        )
    eos_id = getattr(model, "text_eos_id", None)
    if pool_type == "eos" and eos_id is None:
        raise ExportError("the text tower pools at the eos token but names no eos token id")
    return pool_type, -1 if eos_id is None else int(eos_id)


def dynamic_length_blocker(model: CLIP) -> str | None:
    """Why ``model``'s text tower cannot be exported with a dynamic length, or None if it can.

    Trimming is exact only for a causal tower pooled at or before the end token, built from
    open_clip's standard residual blocks (the ones :class:`DynamicLengthTextTower` re-implements).
    """
    pool_type, _ = pooling_of(model)
    if pool_type not in _TRIM_SAFE_POOLS:
        return f"text pooling {pool_type!r} reads the last position, which trimming would move"
    if getattr(model, "attn_mask", None) is None:
        return "the text transformer is not causal (no attention mask)"
    transformer = model.transformer
    if not getattr(transformer, "batch_first", True):
        return "the text transformer is not batch-first"
    for index, block in enumerate(transformer.resblocks):
        attn = getattr(block, "attn", None)
        if not isinstance(attn, nn.MultiheadAttention):
            return f"text block {index} does not use nn.MultiheadAttention"
        if (
            not attn._qkv_same_embed_dim
            or attn.in_proj_weight is None
            or attn.bias_k is not None
            or attn.add_zero_attn
            or not attn.batch_first
            or hasattr(block, "ln_1_kv")
        ):
            return f"text block {index} uses an attention layout the exporter does not re-implement"
    return None


class DynamicLengthTextTower(nn.Module):
    """``input_ids [B,L] -> (embeddings [B,D] normalised, token_states [B,L,D])`` for any L.

    Computes exactly what open_clip's ``CLIP.encode_text`` computes on the first L positions,
    plus every token's projected state (the projection is linear, so projecting every token and
    pooling afterwards equals pooling first). Build it with :func:`dynamic_length_blocker`
    returning None; it shares the model's parameters.
    """

    attn_mask: torch.Tensor

    def __init__(self, model: CLIP) -> None:
        super().__init__()
        blocker = dynamic_length_blocker(model)
        if blocker is not None:
            raise ExportError(f"the text tower cannot take a dynamic length: {blocker}")
        self.pool_type, self.eos_id = pooling_of(model)
        self.token_embedding = model.token_embedding
        self.positional_embedding = model.positional_embedding
        self.blocks = model.transformer.resblocks
        self.ln_final = model.ln_final
        self.text_projection = model.text_projection
        self.register_buffer("attn_mask", model.attn_mask, persistent=False)

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, length = input_ids.shape
        x = self.token_embedding(input_ids) + self.positional_embedding[:length]
        mask = self.attn_mask[:length, :length]
        for block in self.blocks:
            attended = _self_attention(block.attn, block.ln_1(x), mask, batch, length)
            x = x + block.ls_1(attended)
            x = x + block.ls_2(block.mlp(block.ln_2(x)))
        return project_and_pool(
            self.ln_final(x), input_ids, self.text_projection, self.pool_type, self.eos_id
        )


def project_and_pool(
    x: torch.Tensor,
    input_ids: torch.Tensor,
    text_projection: nn.Module | torch.Tensor | None,
    pool_type: str,
    eos_id: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The end of open_clip's ``encode_text``, exportable: ``(embeddings, token_states)``.

    Projects every token's final state (``x`` after ``ln_final``) and then pools, where open_clip
    pools first: pooling picks one row and the projection is linear, so the pooled embedding is
    the same and the per-token states (used by ``explain``) come for free.
    """
    if isinstance(text_projection, nn.Linear):
        states = text_projection(x)
    elif isinstance(text_projection, torch.Tensor):
        states = x @ text_projection
    else:
        states = x
    if pool_type == "argmax":
        # The end token has the highest id of CLIP's vocabulary, so argmax finds it.
        index = input_ids.argmax(dim=-1)
    elif pool_type == "eos":
        index = torch.eq(input_ids, eos_id).to(torch.int32).argmax(dim=-1)
    else:
        last = input_ids.shape[1] - 1 if pool_type == "last" else 0
        index = torch.full_like(input_ids[:, 0], last)
    gather_at = index[:, None, None].expand(-1, 1, states.shape[-1])
    pooled = torch.gather(states, 1, gather_at).squeeze(1)
    return F.normalize(pooled, dim=-1), states


def _self_attention(
    attn: nn.MultiheadAttention,
    x: torch.Tensor,
    mask: torch.Tensor,
    batch: int,
    length: int,
) -> torch.Tensor:
    """``nn.MultiheadAttention(x, x, x, attn_mask=mask)`` (eval mode) with no traced sizes.

    ``batch`` and ``length`` come from the input ids' shape, once per forward: every block's
    reshapes then use the same symbolic sizes, which ONNX Runtime's common-subexpression pass
    merges into one shape computation instead of a chain per reshape (measurable at the short
    lengths queries have). q, k and v are separate products of constant weight slices, so no
    runtime split is needed either.
    """
    heads = attn.num_heads
    width = attn.embed_dim
    head_dim = width // heads
    weight, bias = attn.in_proj_weight, attn.in_proj_bias

    def project(part: int) -> torch.Tensor:
        rows = slice(part * width, (part + 1) * width)
        part_bias = None if bias is None else bias[rows]
        return F.linear(x, weight[rows], part_bias).reshape(batch, length, heads, head_dim)

    # Scaling q before the product, as nn.MultiheadAttention does, keeps the same rounding.
    q = (project(0) * head_dim**-0.5).transpose(1, 2)  # [B, heads, L, head_dim]
    k = project(1).permute(0, 2, 3, 1)  # [B, heads, head_dim, L]
    v = project(2).transpose(1, 2)  # [B, heads, L, head_dim]
    out = ((q @ k) + mask).softmax(dim=-1) @ v
    return attn.out_proj(out.transpose(1, 2).reshape(batch, length, width))
