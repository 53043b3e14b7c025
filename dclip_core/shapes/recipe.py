"""The recipe of the shapes world's base model, torch-free.

What :func:`dclip_core.shapes.pretrain.pretrain_base` does is decided here, so that callers that
must not import torch (the app reopening a finished demo) can tell whether cached weights were
trained by this recipe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from dclip_core.models.registry import get_model_spec
from dclip_core.shapes.world import PRETRAIN_STEPS

SHAPES_MODEL = "shapes-tiny"
# CLIP's initial temperature; learning it buys nothing in a few hundred steps.
PRETRAIN_TEMPERATURE = 0.07


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Values of the from-scratch contrastive pretraining."""

    steps: int = PRETRAIN_STEPS
    # The share of ``steps`` in which the text tower stays at its random init (phase 1).
    frozen_text_share: float = 0.375
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_steps: int = 20
    seed: int = 0
    # torch threads; None keeps torch's default (every core). Not part of the recipe.
    threads: int | None = None


def pretrain_recipe_id(config: PretrainConfig) -> str:
    """A short name of everything that decides the pretrained weights: the architecture of
    ``shapes-tiny``, the recipe and its seed (not ``threads``) — a cache key, so weights trained by
    an earlier recipe are never reused as this one's."""
    recipe = {k: v for k, v in dataclasses.asdict(config).items() if k != "threads"}
    blob = json.dumps(
        {
            "architecture": get_model_spec(SHAPES_MODEL).open_clip_config,
            "recipe": recipe,
            "temperature": PRETRAIN_TEMPERATURE,
        },
        sort_keys=True,
    )
    return f"{config.steps}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"
