"""Export the two towers of an open_clip CLIP model to ONNX (torch).

Each tower is wrapped in a small module whose outputs are exactly what a bundle promises
(DESIGN.md §4): L2 normalisation happens inside the graph, so the runtime never has to remember it,
and the text tower also returns every token's projected state for span explanations. The text
graph takes any sequence length (:mod:`dclip_core.export.text_tower`, ADR 0009). We use the
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
from dclip_core.export.text_tower import (
    DynamicLengthTextTower,
    dynamic_length_blocker,
    pooling_of,
    project_and_pool,
)

# Opset 17 has LayerNormalization as one op; every ONNX Runtime since 1.14 runs it.
ONNX_OPSET = 17

# CLIP's start-of-text id; the rows used for tracing only need to look like real token rows.
_SOT_ID = 49406
_EOT_ID = 49407
# Length of the rows the dynamic text tower is traced on (any length short of the context works).
_TRACED_LENGTH = 7
# Trimmed and full-length runs differ only by float reordering in the softmax's reductions.
_TRIM_TOLERANCE = 1e-4


class ImageTowerForExport(nn.Module):
    """``pixels [B,3,S,S] -> embeddings [B,D]``, L2-normalised."""

    def __init__(self, model: CLIP) -> None:
        super().__init__()
        self.visual = model.visual

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.visual(pixels), dim=-1)


class TextTowerForExport(nn.Module):
    """``input_ids [B,L] -> (embeddings [B,D] normalised, token_states [B,L,D] not normalised)``.

    The fixed-length tower: runs open_clip's own transformer, whose exported attention is tied
    to the traced length. Used only for towers :class:`DynamicLengthTextTower` cannot express
    (see :func:`dynamic_length_blocker`) and to write bundles the way DCLIP did before dynamic
    lengths (tests and ``dclip bench search`` compare against them).

    Mirrors open_clip's ``CLIP.encode_text`` (see :func:`project_and_pool` for its end).
    """

    def __init__(self, model: CLIP) -> None:
        super().__init__()
        self.pool_type, self.eos_id = pooling_of(model)
        self.token_embedding = model.token_embedding
        self.positional_embedding = model.positional_embedding
        self.transformer = model.transformer
        self.ln_final = model.ln_final
        self.text_projection = model.text_projection
        self.register_buffer("attn_mask", model.attn_mask, persistent=False)

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.token_embedding(input_ids) + self.positional_embedding
        x = self.transformer(x, attn_mask=self.attn_mask)
        return project_and_pool(
            self.ln_final(x), input_ids, self.text_projection, self.pool_type, self.eos_id
        )


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


def export_text_tower(
    model: CLIP, context_length: int, path: Path, *, dynamic_length: bool = True
) -> bool:
    """Write the text tower of ``model`` to ``path`` (dynamic batch).

    Args:
        model: the CLIP whose text tower to export.
        context_length: the tokenizer's context length (the longest input).
        path: the ``.onnx`` file to write.
        dynamic_length: give the graph a symbolic sequence axis, so the runtime can run only up
            to the batch's last end token (ADR 0009). Towers that trimming would change (see
            :func:`dynamic_length_blocker`) are exported with the fixed ``context_length``
            regardless. False writes the fixed-length graph of earlier DCLIP versions.

    Returns:
        True when the written graph takes any sequence length up to ``context_length``.

    Raises:
        ExportError: the exporter failed, or the dynamic graph gave other outputs on trimmed ids
            than on full-length ones (the message says which tower).
    """
    dynamic = dynamic_length and dynamic_length_blocker(model) is None
    if dynamic:
        # Traced on a length shorter than the context, so a length the tracer baked in anyway
        # shows up as a failure of the full-length check below rather than passing unnoticed.
        tower: nn.Module = DynamicLengthTextTower(model)
        example = _example_ids(min(context_length, _TRACED_LENGTH), context_length)
    else:
        tower = TextTowerForExport(model)
        example = _example_ids(context_length, context_length)
    _export(
        tower,
        example,
        path,
        input_name="input_ids",
        output_names=["embeddings", "token_states"],
        what="text tower",
        sequence_axis=dynamic,
    )
    if dynamic:
        _check_trimming_is_exact(path, context_length)
    return dynamic


def _example_ids(length: int, context_length: int) -> torch.Tensor:
    """Two token rows of ``length`` positions: a short caption and a longer one (or truncated)."""
    example = torch.zeros(2, length, dtype=torch.int64)
    example[:, 0] = _SOT_ID
    example[0, 1], example[0, 2] = 320, _EOT_ID
    body = torch.tensor([320, 1125, 539, 1929, 268])[: max(length - 2, 0)]
    example[1, 1 : 1 + len(body)] = body
    example[1, min(1 + len(body), length - 1)] = _EOT_ID
    return example


def _check_trimming_is_exact(path: Path, context_length: int) -> None:
    """Run the written graph at full and trimmed length; both must agree where they overlap."""
    import numpy as np
    import onnxruntime as ort

    from dclip_core.runtime.session import ORT_LOAD_ERRORS

    full = np.zeros((3, context_length), dtype=np.int64)
    full[:, 0] = _SOT_ID
    lengths = (2, min(5, context_length - 2), context_length - 2)
    for row, body in enumerate(lengths):
        full[row, 1 : 1 + body] = 320 + np.arange(body) % 400
        full[row, 1 + body] = _EOT_ID
    trimmed_length = 2 + lengths[1]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        full_out, full_states = session.run(None, {"input_ids": full})
        short_out, short_states = session.run(None, {"input_ids": full[:2, :trimmed_length]})
    except ORT_LOAD_ERRORS as exc:
        raise ExportError(
            f"the exported text tower {path} does not run at every length ({exc})"
        ) from exc
    worst = float(np.abs(short_out - full_out[:2]).max())
    worst_state = float(np.abs(short_states - full_states[:2, :trimmed_length]).max())
    if max(worst, worst_state) > _TRIM_TOLERANCE:
        raise ExportError(
            f"the exported text tower {path} gives other outputs on trimmed ids (max difference "
            f"{max(worst, worst_state):.2e}); export with dynamic_length=False"
        )


def _export(
    module: nn.Module,
    example: torch.Tensor,
    path: Path,
    *,
    input_name: str,
    output_names: list[str],
    what: str,
    sequence_axis: bool = False,
) -> None:
    dynamic_axes: dict[str, dict[int, str]] = {
        name: {0: "batch"} for name in (input_name, *output_names)
    }
    if sequence_axis:
        # input_ids [B, L] and token_states [B, L, D]; the embeddings have no length axis.
        dynamic_axes[input_name][1] = "sequence"
        dynamic_axes["token_states"][1] = "sequence"
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
