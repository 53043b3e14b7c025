"""Export the two towers of an open_clip CLIP model to ONNX (torch).

Each tower is wrapped in a small module whose outputs are exactly what a bundle promises
(DESIGN.md §4): L2 normalisation happens inside the graph, so the runtime never has to remember it,
and the text tower also returns every token's projected state for span explanations. We use the
TorchScript-based exporter (``dynamo=False``); docs/adr/0008-onnx-export.md says why.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812 - the conventional name
from open_clip import CLIP
from torch import nn

from dclip_core.errors import ExportError

# Opset 17 has LayerNormalization as one op; every ONNX Runtime since 1.14 runs it.
ONNX_OPSET = 17

# CLIP's start-of-text id; the rows used for tracing only need to look like real token rows.
_SOT_ID = 49406
_EOT_ID = 49407


class ImageTowerForExport(nn.Module):
    """``pixels [B,3,S,S] -> embeddings [B,D]``, L2-normalised."""

    def __init__(self, model: CLIP) -> None:
        super().__init__()
        self.visual = model.visual

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.visual(pixels), dim=-1)


class TextTowerForExport(nn.Module):
    """``input_ids [B,L] -> (embeddings [B,D] normalised, token_states [B,L,D] not normalised)``.

    Mirrors open_clip's ``CLIP.encode_text`` but applies the text projection to every token
    before pooling: pooling picks one row and the projection is linear, so the pooled embedding is
    the same, and the per-token states come for free.
    """

    def __init__(self, model: CLIP) -> None:
        super().__init__()
        pool_type = getattr(model, "text_pool_type", "argmax")
        if pool_type not in ("argmax", "eos", "first", "last"):
            raise ExportError(
                f"text pooling {pool_type!r} is not supported by the exporter "
                "(supported: argmax, eos, first, last)"
            )
        self.pool_type = pool_type
        eos_id = getattr(model, "text_eos_id", None)
        if pool_type == "eos" and eos_id is None:
            raise ExportError("the text tower pools at the eos token but names no eos token id")
        self.eos_id = -1 if eos_id is None else int(eos_id)
        self.token_embedding = model.token_embedding
        self.positional_embedding = model.positional_embedding
        self.transformer = model.transformer
        self.ln_final = model.ln_final
        self.text_projection = model.text_projection
        self.register_buffer("attn_mask", model.attn_mask, persistent=False)

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.token_embedding(input_ids) + self.positional_embedding
        x = self.transformer(x, attn_mask=self.attn_mask)
        x = self.ln_final(x)
        if isinstance(self.text_projection, nn.Linear):
            states = self.text_projection(x)
        elif self.text_projection is not None:
            states = x @ self.text_projection
        else:
            states = x
        index = self._pool_index(input_ids)
        gather_at = index[:, None, None].expand(-1, 1, states.shape[-1])
        pooled = torch.gather(states, 1, gather_at).squeeze(1)
        return F.normalize(pooled, dim=-1), states

    def _pool_index(self, input_ids: torch.Tensor) -> torch.Tensor:
        if self.pool_type == "argmax":
            # The end token has the highest id of CLIP's vocabulary, so argmax finds it.
            return input_ids.argmax(dim=-1)
        if self.pool_type == "eos":
            is_eos = torch.eq(input_ids, self.eos_id)
            return is_eos.to(torch.int32).argmax(dim=-1)
        last = input_ids.shape[1] - 1 if self.pool_type == "last" else 0
        return torch.full_like(input_ids[:, 0], last)


def export_image_tower(model: CLIP, image_size: int, path: Path) -> None:
    """Write the image tower of ``model`` to ``path`` (dynamic batch, fixed ``image_size``).

    Raises:
        ExportError: the exporter failed (the message says which tower).
    """
    example = torch.zeros(2, 3, image_size, image_size)
    _export(
        ImageTowerForExport(model),
        example,
        path,
        input_name="pixels",
        output_names=["embeddings"],
        what="image tower",
    )


def export_text_tower(model: CLIP, context_length: int, path: Path) -> None:
    """Write the text tower of ``model`` to ``path`` (dynamic batch, fixed ``context_length``).

    Raises:
        ExportError: the exporter failed (the message says which tower).
    """
    example = torch.zeros(2, context_length, dtype=torch.int64)
    example[:, 0] = _SOT_ID
    example[0, 1], example[0, 2] = 320, _EOT_ID
    example[1, 1:4] = torch.tensor([320, 1125, 539])
    example[1, 4] = _EOT_ID
    _export(
        TextTowerForExport(model),
        example,
        path,
        input_name="input_ids",
        output_names=["embeddings", "token_states"],
        what="text tower",
    )


def _export(
    module: nn.Module,
    example: torch.Tensor,
    path: Path,
    *,
    input_name: str,
    output_names: list[str],
    what: str,
) -> None:
    dynamic_axes = {name: {0: "batch"} for name in (input_name, *output_names)}
    module.eval()
    fastpath_was_enabled = torch.backends.mha.get_fastpath_enabled()
    # In eval mode without gradients nn.MultiheadAttention takes a fused kernel that has no ONNX
    # translation; the plain path computes the same attention from exportable ops.
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of dynamo; ADR 0008 explains
            # why we keep it. The warning is about our choice, not the user's input.
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=False,
                input_names=[input_name],
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                opset_version=ONNX_OPSET,
                do_constant_folding=True,
            )
    except (RuntimeError, ValueError, TypeError, torch.onnx.errors.OnnxExporterError) as exc:
        raise ExportError(f"exporting the {what} to {path} failed: {exc}") from exc
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath_was_enabled)
    if not path.is_file():
        raise ExportError(f"exporting the {what} wrote no file at {path}")
