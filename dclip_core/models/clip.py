"""Build an open_clip CLIP model from a registered :class:`ModelSpec` (torch).

This is the one factory the export, training and evaluation code uses, mirroring open_clip's
``create_model``: a spec names an architecture config, and weights are either loaded from the
local cache (downloaded on demand by :mod:`dclip_core.models.weights`) or initialised from the
spec's seed, so every process builds bit-identical random models for tests.
"""

from __future__ import annotations

from pathlib import Path

import open_clip
import torch

from dclip_core.errors import WeightsError
from dclip_core.models.conv_tower import CONV_TOWER, build_conv_tower
from dclip_core.models.registry import ModelSpec, get_model_spec

# open_clip.CLIP always builds an image tower from its vision config; where the spec names one of
# ours (``"tower": "conv"``), it builds this smallest ModifiedResNet, which is then replaced.
_PLACEHOLDER_VISION = {"image_size": 32, "layers": [1, 1, 1, 1], "width": 2, "head_width": 64}


def build_clip_architecture(spec: ModelSpec) -> open_clip.CLIP:
    """Instantiate the architecture with the spec's seeded random init (no weights loaded).

    The vision config is open_clip's, or ``{"tower": "conv", ...}`` for DCLIP's
    :class:`~dclip_core.models.conv_tower.ConvTower`; the text tower is always open_clip's.
    """
    cfg = dict(spec.open_clip_config)
    quick_gelu = bool(cfg.pop("quick_gelu", False))
    vision_cfg = cfg["vision_cfg"]
    tower = vision_cfg.get("tower")
    if tower not in (None, CONV_TOWER):
        raise ValueError(f"model {spec.name!r}: unknown image tower {tower!r}")
    # fork_rng keeps the caller's CPU RNG untouched: building a model must not shift training.
    # Seed only the CPU generator (torch.manual_seed would also reseed every CUDA device, which
    # fork_rng(devices=[]) does not restore); parameters are initialised on the CPU.
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(spec.seed)
        model = open_clip.CLIP(
            embed_dim=cfg["embed_dim"],
            vision_cfg=_PLACEHOLDER_VISION if tower else vision_cfg,
            text_cfg=cfg["text_cfg"],
            quick_gelu=quick_gelu,
        )
        if tower == CONV_TOWER:
            model.visual = build_conv_tower(vision_cfg, cfg["embed_dim"])
    return model


def create_clip(
    spec_or_name: ModelSpec | str,
    *,
    weights_path: Path | None = None,
    download: bool = True,
) -> open_clip.CLIP:
    """Return the CLIP model of a spec, in eval mode on the CPU, float32.

    Args:
        spec_or_name: a spec or a registered model name.
        weights_path: load these weights instead of the spec's cached file.
        download: when the spec's weights are not cached, fetch them (else raise).

    Raises:
        UnknownModelError: unknown name.
        WeightsMissingError: pretrained weights are neither cached nor downloadable.
        DownloadError: a download was attempted and failed.
        WeightsError: the weights file is unreadable or does not fit the architecture.
    """
    from dclip_core.models.state_dict import load_state_dict
    from dclip_core.models.weights import ensure_weights

    spec = get_model_spec(spec_or_name) if isinstance(spec_or_name, str) else spec_or_name
    model = build_clip_architecture(spec)
    if weights_path is None and spec.weights is not None:
        weights_path = ensure_weights(spec, download=download)
    if weights_path is not None:
        _load_weights_into(model, load_state_dict(weights_path, spec), weights_path, spec)
    return model.eval()


def _load_weights_into(
    model: open_clip.CLIP, state_dict: dict[str, torch.Tensor], path: Path, spec: ModelSpec
) -> None:
    """Load every parameter of ``model`` from ``state_dict``, or say which file does not fit."""
    try:
        result = model.load_state_dict(state_dict, strict=False)
    except RuntimeError as exc:  # shape mismatches raise even with strict=False
        detail = str(exc).strip().splitlines()
        raise WeightsError(
            f"weights file {path} does not fit model {spec.name!r}: "
            f"{detail[-1].strip() if detail else exc}"
        ) from exc
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(
            f"weights file {path} does not fit model {spec.name!r}: "
            f"{_describe_keys('missing', result.missing_keys)}, "
            f"{_describe_keys('unexpected', result.unexpected_keys)}"
        )


def _describe_keys(kind: str, keys: list[str]) -> str:
    if not keys:
        return f"no {kind} keys"
    shown = ", ".join(keys[:3]) + (", …" if len(keys) > 3 else "")
    return f"{len(keys)} {kind} keys ({shown})"
