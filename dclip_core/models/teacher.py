"""The DCLIP teacher: bidirectional cross-attention between text spans and image regions.

Per layer, both directions are computed in parallel from the layer's inputs (DESIGN.md §6)::

    T' = LN_t(T + MHA(q=T, k=R, v=R))        R' = LN_r(R + MHA(q=R, k=T, v=T))

optionally followed by a feed-forward sub-layer. Each side is then pooled with weights
``softmax(cos(x_i, mean(X)) / 2)`` and the teacher's global embedding is
``0.5 * pool(T') + 0.5 * pool(R')`` (not normalised; the losses normalise) — or, with
``target="regions"`` (not in the paper), ``pool(R')`` alone: half of the fused embedding is the
caption's own spans, so a teacher trained to match the caption can copy it (caption leakage,
docs/benchmarks.md "Shapes world"); the region side has to take its text through attention.

Padding is masked everywhere (attention keys, the pooling mean and the pooling softmax), so a batch
padded to any length gives the same outputs as each sample on its own. ``paper_compat=True``
reproduces the authors' released code instead: zero padding takes part in attention and pooling.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional

# A finite "minus infinity": exp() of it underflows to exactly 0, yet a row whose keys are all
# masked still gives a finite (uniform) softmax instead of NaN. ONNX export keeps it as a constant.
_MASKED_LOGIT = -1e9
# What the teacher's global embedding pools: both sides (the paper) or the regions alone.
TeacherTarget = Literal["fused", "regions"]
TEACHER_FORMAT = "dclip-teacher/1"


@dataclass(frozen=True)
class TeacherConfig:
    """Architecture of a :class:`CrossModalTeacher`; stored next to its weights."""

    dim: int
    heads: int = 8
    layers: int = 1
    ffn: bool = False
    paper_compat: bool = False
    pool_temperature: float = 2.0
    target: TeacherTarget = "fused"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TeacherConfig:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class TeacherOutput:
    """What the teacher returns.

    Attributes:
        global_embedding: [B, D] the fused embedding ``0.5·pool(T') + 0.5·pool(R')`` (``pool(R')``
            for a ``target="regions"`` teacher).
        text_to_region: [B, layers, heads, Nt, Nr] attention of each span over the regions.
        region_to_text: [B, layers, heads, Nr, Nt] attention of each region over the spans.
        text_states: [B, Nt, D] attended spans T' of the last layer.
        region_states: [B, Nr, D] attended regions R' of the last layer.
        pair_logits: [layers, B, B, heads, Nt, Nr] text→region attention logits of every
            caption's spans over every image's regions (``[:, i, j]``: caption i, image j), each
            layer's inputs taken from their own sample's forward; the diagonal ``[:, i, i]`` is
            the logits of ``text_to_region``. Only when asked for (``pairwise=True``): the
            grounding loss contrasts a caption's own regions with the batch's other images'.
    """

    global_embedding: torch.Tensor
    text_to_region: torch.Tensor
    region_to_text: torch.Tensor
    text_states: torch.Tensor
    region_states: torch.Tensor
    pair_logits: torch.Tensor | None = None


class CrossAttention(nn.Module):
    """Multi-head attention of queries over keys/values, returning per-head weights.

    Written out (rather than ``nn.MultiheadAttention``) so that masks, per-head maps and the ONNX
    graph are explicit. Same parameters as the released code's ``nn.MultiheadAttention``: q, k, v
    and output projections with biases.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(
        self, query: torch.Tensor, key_value: torch.Tensor, key_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend ``query`` [B,Nq,D] over ``key_value`` [B,Nk,D].

        Args:
            key_mask: [B,Nk] bool, True where a key is real; None attends over every key.

        Returns:
            The attended values [B,Nq,D] and the weights [B,heads,Nq,Nk].
        """
        b, nq, d = query.shape
        nk = key_value.shape[1]
        q = self.q_proj(query).view(b, nq, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(key_value).view(b, nk, self.heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(key_value).view(b, nk, self.heads, self.head_dim).transpose(1, 2)
        logits = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        if key_mask is not None:
            logits = logits.masked_fill(~key_mask[:, None, None, :], _MASKED_LOGIT)
        weights = logits.softmax(dim=-1)
        attended = (weights @ v).transpose(1, 2).reshape(b, nq, d)
        return self.out_proj(attended), weights

    def pairwise_logits(
        self, query: torch.Tensor, key_value: torch.Tensor, key_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Attention logits of every query sample over every key sample.

        Args:
            query: [Bq,Nq,D]; key_value: [Bk,Nk,D]; key_mask: [Bk,Nk] bool or None.

        Returns:
            [Bq,Bk,heads,Nq,Nk]: what :meth:`forward` would softmax if query sample i attended
            over key sample j; masked keys hold the masked logit.
        """
        bq, nq, _ = query.shape
        bk, nk, _ = key_value.shape
        q = self.q_proj(query).view(bq, nq, self.heads, self.head_dim)
        k = self.k_proj(key_value).view(bk, nk, self.heads, self.head_dim)
        logits = torch.einsum("iqhd,jkhd->ijhqk", q, k) / math.sqrt(self.head_dim)
        if key_mask is not None:
            logits = logits.masked_fill(~key_mask[None, :, None, None, :], _MASKED_LOGIT)
        return logits


class CrossModalLayer(nn.Module):
    """One bidirectional block: both directions from the same inputs, post-LayerNorm residuals."""

    def __init__(self, dim: int, heads: int, ffn: bool) -> None:
        super().__init__()
        self.text_to_region = CrossAttention(dim, heads)
        self.region_to_text = CrossAttention(dim, heads)
        self.text_norm = nn.LayerNorm(dim)
        self.region_norm = nn.LayerNorm(dim)
        self.text_ffn: nn.Module | None = None
        self.region_ffn: nn.Module | None = None
        if ffn:
            self.text_ffn = _FeedForward(dim)
            self.region_ffn = _FeedForward(dim)

    def forward(
        self,
        text: torch.Tensor,
        regions: torch.Tensor,
        text_mask: torch.Tensor | None,
        region_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        text_update, t2r = self.text_to_region(text, regions, region_mask)
        region_update, r2t = self.region_to_text(regions, text, text_mask)
        text_out = self.text_norm(text + text_update)
        region_out = self.region_norm(regions + region_update)
        if self.text_ffn is not None and self.region_ffn is not None:
            text_out = self.text_ffn(text_out)
            region_out = self.region_ffn(region_out)
        return text_out, region_out, t2r, r2t


class _FeedForward(nn.Module):
    """``LN(x + MLP(x))`` with a 4x GELU MLP, the usual transformer sub-layer (off in the paper)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.mlp(x))


def cosine_mean_pool(
    x: torch.Tensor, mask: torch.Tensor | None, temperature: float = 2.0
) -> torch.Tensor:
    """Pool [B,N,D] to [B,D] with weights ``softmax(cos(x_i, mean(x)) / temperature)``.

    Args:
        mask: [B,N] bool, True for real rows; padding is left out of the mean and the softmax.
            None pools over every row (the released code's behaviour).
    """
    if mask is None:
        mean = x.mean(dim=1, keepdim=True)
    else:
        weights = mask.to(x.dtype).unsqueeze(-1)
        mean = (x * weights).sum(dim=1, keepdim=True) / weights.sum(dim=1, keepdim=True).clamp_min(
            1
        )
    scores = functional.cosine_similarity(x, mean.expand_as(x), dim=-1) / temperature
    if mask is not None:
        scores = scores.masked_fill(~mask, _MASKED_LOGIT)
    pool_weights = scores.softmax(dim=1)
    return (pool_weights.unsqueeze(-1) * x).sum(dim=1)


class CrossModalTeacher(nn.Module):
    """Bidirectional cross-attention teacher over spans T [B,Nt,D] and regions R [B,Nr,D].

    Args:
        dim: the CLIP joint embedding size D (512 for ViT-B).
        heads: attention heads (8 in the paper).
        layers: stacked bidirectional blocks (1 in the paper).
        ffn: add a feed-forward sub-layer to each block (absent in the paper).
        paper_compat: ignore masks, so zero padding joins attention and pooling as in the released
            code (for comparing against its numbers; padding then changes the outputs).
        pool_temperature: the pooling softmax temperature (2.0 in the released code).
        target: ``fused`` (the paper: ``0.5·pool(T') + 0.5·pool(R')``) or ``regions``
            (``pool(R')``) as the global embedding.
    """

    def __init__(
        self,
        dim: int,
        heads: int = 8,
        layers: int = 1,
        ffn: bool = False,
        paper_compat: bool = False,
        pool_temperature: float = 2.0,
        target: TeacherTarget = "fused",
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError("the teacher needs at least one layer")
        if target not in ("fused", "regions"):
            raise ValueError(f"unknown teacher target {target!r}; expected 'fused' or 'regions'")
        self.config = TeacherConfig(
            dim=dim,
            heads=heads,
            layers=layers,
            ffn=ffn,
            paper_compat=paper_compat,
            pool_temperature=pool_temperature,
            target=target,
        )
        self.blocks = nn.ModuleList(CrossModalLayer(dim, heads, ffn) for _ in range(layers))

    def _layers(self) -> list[CrossModalLayer]:
        return [block for block in self.blocks if isinstance(block, CrossModalLayer)]

    @classmethod
    def from_config(cls, config: TeacherConfig) -> CrossModalTeacher:
        return cls(**config.to_json())

    def forward(
        self,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        regions: torch.Tensor,
        region_mask: torch.Tensor,
        pairwise: bool = False,
    ) -> TeacherOutput:
        """Fuse spans and regions.

        Args:
            text: [B,Nt,D] span embeddings, zero-padded.
            text_mask: [B,Nt] bool, True for real spans (every sample needs at least one).
            regions: [B,Nr,D] region embeddings, zero-padded.
            region_mask: [B,Nr] bool, True for real regions (at least one, maybe a placeholder).
            pairwise: also return ``pair_logits`` (training with a grounding loss; the exported
                graph never computes them).
        """
        if self.config.paper_compat:
            tmask: torch.Tensor | None = None
            rmask: torch.Tensor | None = None
            # The released code pads with zeros; make sure padding rows are zeros here too.
            text = text * text_mask.unsqueeze(-1).to(text.dtype)
            regions = regions * region_mask.unsqueeze(-1).to(regions.dtype)
        else:
            tmask, rmask = text_mask, region_mask
        t2r_maps: list[torch.Tensor] = []
        r2t_maps: list[torch.Tensor] = []
        pair_maps: list[torch.Tensor] = []
        for block in self._layers():
            if pairwise:
                pair_maps.append(block.text_to_region.pairwise_logits(text, regions, rmask))
            text, regions, t2r, r2t = block(text, regions, tmask, rmask)
            if tmask is not None and rmask is not None:
                # Padded query rows attend somewhere meaningless; zero them so the returned maps
                # only describe real spans and regions.
                t2r = t2r * tmask[:, None, :, None].to(t2r.dtype)
                r2t = r2t * rmask[:, None, :, None].to(r2t.dtype)
            t2r_maps.append(t2r)
            r2t_maps.append(r2t)
        temperature = self.config.pool_temperature
        pooled_text = cosine_mean_pool(text, tmask, temperature)
        pooled_regions = cosine_mean_pool(regions, rmask, temperature)
        fused = (
            pooled_regions
            if self.config.target == "regions"
            else 0.5 * pooled_text + 0.5 * pooled_regions
        )
        return TeacherOutput(
            global_embedding=fused,
            text_to_region=torch.stack(t2r_maps, dim=1),
            region_to_text=torch.stack(r2t_maps, dim=1),
            text_states=text,
            region_states=regions,
            pair_logits=torch.stack(pair_maps) if pairwise else None,
        )


def save_teacher(
    path: Path, teacher: CrossModalTeacher, *, base_model: str, extra: dict[str, Any] | None = None
) -> None:
    """Write a trained teacher as one self-describing safetensors file.

    The architecture and the base CLIP whose features it was trained on go into the file's
    metadata: a teacher only makes sense with that base model's crop and span embeddings.
    """
    from safetensors.torch import save_file

    metadata = {
        "format": TEACHER_FORMAT,
        "config": json.dumps(teacher.config.to_json()),
        "base_model": base_model,
        "extra": json.dumps(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tensors = {k: v.detach().cpu().contiguous() for k, v in teacher.state_dict().items()}
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)


@dataclass
class LoadedTeacher:
    teacher: CrossModalTeacher
    base_model: str
    extra: dict[str, Any]


def load_teacher(path: Path) -> LoadedTeacher:
    """Read a teacher written by :func:`save_teacher` (eval mode, CPU).

    Raises:
        TrainingError: missing, corrupt, or not a DCLIP teacher file (named in the message).
    """
    from safetensors import SafetensorError, safe_open

    from dclip_core.errors import TrainingError

    if not path.is_file():
        raise TrainingError(
            f"teacher file {path} does not exist; train one with `dclip train-teacher`"
        )
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as exc:
        raise TrainingError(f"teacher file {path} is corrupt or truncated: {exc}") from exc
    if metadata.get("format") != TEACHER_FORMAT:
        raise TrainingError(
            f"{path} is not a DCLIP teacher file (written by `dclip train-teacher`)"
        )
    config = TeacherConfig.from_json(json.loads(metadata["config"]))
    teacher = CrossModalTeacher.from_config(config)
    teacher.load_state_dict(tensors, strict=True)
    return LoadedTeacher(
        teacher=teacher.eval(),
        base_model=metadata["base_model"],
        extra=json.loads(metadata.get("extra", "{}")),
    )
