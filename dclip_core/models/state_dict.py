"""Reading a weights file into an open_clip state dict (torch).

The cache, downloads and imports are :mod:`dclip_core.models.weights` (torch-free); this module is
what turns a verified file into tensors, for :func:`dclip_core.models.clip.create_clip`.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from dclip_core.errors import WeightsError
from dclip_core.models.download import sha256_file
from dclip_core.models.registry import ModelSpec, parameters_signature
from dclip_core.models.weights import detect_weights_format
from dclip_core.models.weights_stamp import stamp_matches

# OpenAI's TorchScript archives store these model hyper-parameters next to the weights; they are
# not parameters of open_clip's CLIP (which uses the same names as OpenAI for everything else).
OPENAI_NON_PARAMETER_KEYS = ("input_resolution", "context_length", "vocab_size")


def load_state_dict(path: Path, spec: ModelSpec) -> dict[str, torch.Tensor]:
    """Read a weights file into a float32 CPU state dict with open_clip's parameter names.

    The format is detected from the file (see :func:`detect_weights_format`), so a fine-tuned
    checkpoint can be loaded into a spec whose pinned weights use another format:

    - ``openai-jit``: OpenAI's TorchScript archive, loaded on the CPU; its state dict already has
      open_clip's names, minus :data:`OPENAI_NON_PARAMETER_KEYS`. An archive can carry code, so
      it is loaded only when its sha256 is the one ``spec`` pins.
    - ``safetensors``: read as is.
    - ``state-dict``: ``torch.load(weights_only=True)`` — nothing is unpickled but tensors and
      plain containers; a top-level ``"state_dict"`` entry and DDP's ``module.`` prefix are undone.

    Raises:
        WeightsError: unreadable, not a state dict, or an unpinned TorchScript archive; the
            message names the file.
    """
    from safetensors import SafetensorError

    fmt = detect_weights_format(path)
    try:
        if fmt == "safetensors":
            from safetensors.torch import load_file

            raw: Any = load_file(str(path), device="cpu")
        elif fmt == "openai-jit":
            _require_pinned_archive(path, spec)
            with warnings.catch_warnings():
                # OpenAI publishes only TorchScript; torch's advice to move to torch.export is
                # for the authors of such files, not for us reading one.
                warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", FutureWarning)
                archive = torch.jit.load(str(path), map_location="cpu")
            raw = dict(archive.state_dict())
            for key in OPENAI_NON_PARAMETER_KEYS:
                raw.pop(key, None)
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, ValueError, pickle.UnpicklingError, SafetensorError) as exc:
        raise WeightsError(
            f"cannot read {path} as {fmt} weights for model {spec.name!r}: "
            f"{_first_line(exc)}; the file is damaged or not a weights file: download or import "
            "it again"
        ) from exc
    return _as_float32_state_dict(raw, path)


def _require_pinned_archive(path: Path, spec: ModelSpec) -> None:
    """TorchScript archives carry code and pickles: load only a file whose sha256 is pinned."""
    pinned = [s for s in spec.weights_sources if s.sha256]
    if any(stamp_matches(path, s) for s in pinned):
        return
    if pinned and sha256_file(path) in {s.sha256 for s in pinned}:
        return
    raise WeightsError(
        f"refusing to load TorchScript archive {path} for model {spec.name!r}: DCLIP loads "
        "TorchScript only from a model's pinned weights file (it carries code); save the weights "
        "as safetensors or a PyTorch state dict instead"
    )


def _as_float32_state_dict(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(raw, Mapping) and isinstance(raw.get("state_dict"), Mapping):
        raw = raw["state_dict"]  # training checkpoints wrap the weights with optimizer state etc.
    if not isinstance(raw, Mapping):
        raise WeightsError(f"{path} holds a {type(raw).__name__}, not a state dict of tensors")
    state_dict: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor):
            raise WeightsError(
                f"{path} is not a state dict of tensors: entry {key!r} is a {type(value).__name__}"
            )
        name = str(key).removeprefix("module.")  # saved from a DistributedDataParallel wrapper
        # OpenAI ships fp16 weights; the models here are float32 on the CPU.
        state_dict[name] = value.float() if value.is_floating_point() else value
    return state_dict


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def architecture_parameters_sha256(spec: ModelSpec) -> str:
    """:func:`~dclip_core.models.registry.parameters_signature` of ``spec``'s architecture: the
    value its ``parameters_sha256`` records."""
    from dclip_core.models.clip import build_clip_architecture

    state = build_clip_architecture(spec).state_dict()
    return parameters_signature({name: tuple(value.shape) for name, value in state.items()})
