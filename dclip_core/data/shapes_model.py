"""The shapes world's "base CLIP": ``shapes-tiny`` pretrained from scratch on bag captions.

No pretrained weights can be downloaded here, so the base model of the shapes experiments is
trained by us: plain CLIP contrastive learning (all parameters, symmetric InfoNCE) on
``pretrain/`` and its object close-ups ``pretrain-objects/``, run by the same
:class:`~dclip_core.train.loop.TrainingLoop` as the method's stages.
The result is registered as a model spec of its own (``shapes-tiny-<sha12>``) whose weights sit,
verified, in the weights cache — so the teacher, the student, the region cache and the exporter load
it by name exactly as they load ``clip-vit-b-32``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import open_clip
import torch
from torch import nn

from dclip_core.data.shapes_world import PRETRAIN_STEPS, ShapesWorld, shapes_records
from dclip_core.errors import TrainingError
from dclip_core.eval.embedders import load_pixels
from dclip_core.models.clip import create_clip
from dclip_core.models.registry import ModelSpec, WeightsSource, get_model_spec, register_model
from dclip_core.runtime.bundle import sha256_file
from dclip_core.runtime.tokenizer import ClipTokenizer
from dclip_core.train.batching import Example
from dclip_core.train.checkpoint import save_weights
from dclip_core.train.datasets import read_caption_folder
from dclip_core.train.distill import StudentForward
from dclip_core.train.distributed import init_distributed
from dclip_core.train.events import EventSink
from dclip_core.train.loop import LoopConfig, TrainingLoop
from dclip_core.train.losses import LossTerms, info_nce

SHAPES_MODEL = "shapes-tiny"
BASE_FILE = "base.safetensors"
# CLIP's initial temperature; learning it buys nothing in a few hundred steps.
PRETRAIN_TEMPERATURE = 0.07


class PretrainingStoppedError(TrainingError):
    """The pretraining was interrupted before its last step."""


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Values of the from-scratch contrastive pretraining."""

    steps: int = PRETRAIN_STEPS
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_steps: int = 20
    seed: int = 0
    # torch threads; None keeps torch's default (every core). The ResNet image tower gains from
    # them (measured on 2 idle cores: 0.35 s per step with 1 thread, 0.21 s with 2).
    threads: int | None = None


class ContrastivePretrainTask:
    """CLIP pretraining for :class:`TrainingLoop`: every parameter, symmetric InfoNCE.

    Decoded pixels are kept in memory: the world is small, and PNG decoding would otherwise cost
    as much as the model's step on two cores.
    """

    stage = "pretrain"

    def __init__(self, model: open_clip.CLIP, spec: ModelSpec, device: torch.device) -> None:
        self.model = model
        self.forward_module = StudentForward(model)
        self.spec = spec
        self.device = device
        self.tokenizer = ClipTokenizer(ClipTokenizer.default_vocab_path(), spec.context_length)
        self._pixels: dict[Path, torch.Tensor] = {}
        for name, param in model.named_parameters():
            # logit_scale stays fixed (PRETRAIN_TEMPERATURE); a trainable unused one breaks DDP.
            # The 49408-row token table stays at its random init: random rows are distinct
            # enough for the ~30 words of the world, and updating it would cost a third of each
            # step on two cores.
            param.requires_grad_(
                name not in ("logit_scale", "logit_bias", "token_embedding.weight")
            )

    def train_module(self) -> nn.Module:
        return self.forward_module

    def _pixels_of(self, paths: Sequence[Path]) -> torch.Tensor:
        missing = [p for p in paths if p not in self._pixels]
        if missing:
            for path, pixels in zip(
                missing, load_pixels(missing, self.spec.preprocess), strict=True
            ):
                self._pixels[path] = pixels
        return torch.stack([self._pixels[p] for p in paths])

    def compute_loss(self, module: nn.Module, examples: Sequence[Example]) -> LossTerms:
        pixels = self._pixels_of([e.record.path for e in examples]).to(self.device)
        ids = torch.from_numpy(self.tokenizer([e.caption for e in examples])).to(self.device)
        image, text = module(pixels, ids)
        loss = info_nce(image, text, PRETRAIN_TEMPERATURE)
        return LossTerms(loss, {"contrastive": loss.detach()})

    def checkpoint_weights(self) -> dict[str, torch.Tensor]:
        return dict(self.model.state_dict())

    def load_checkpoint_weights(self, weights: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(weights, strict=True)


def pretrain_base(
    world: ShapesWorld,
    run_dir: Path,
    config: PretrainConfig,
    *,
    events: EventSink | None = None,
) -> Path:
    """Pretrain ``shapes-tiny`` on ``world.pretrain_dir``; returns ``<run_dir>/base.safetensors``.

    The architecture's random init is seeded by ``config.seed``, so two seeds are two independent
    base models.
    """
    spec = dataclasses.replace(get_model_spec(SHAPES_MODEL), seed=1000 + config.seed)
    ctx = init_distributed()
    model = create_clip(spec).to(ctx.device)
    task = ContrastivePretrainTask(model, spec, ctx.device)
    loop_config = LoopConfig(
        epochs=10_000,  # bounded by max_steps
        batch_size=config.batch_size,
        optimizer="adamw",
        lr=config.lr,
        weight_decay=config.weight_decay,
        schedule="cosine",
        warmup_steps=config.warmup_steps,
        seed=config.seed,
        precision="fp32",
        checkpoint_every=10**9,  # a few minutes of work: no intermediate checkpoints
        keep_checkpoints=1,
        max_steps=config.steps,
    )
    records = shapes_records(world.pretrain_dir) + read_caption_folder(world.pretrain_objects_dir)
    loop = TrainingLoop(
        task,
        records,
        [],
        loop_config,
        run_dir,
        events or EventSink("none"),
        ctx,
        meta={"model": SHAPES_MODEL, "stage": "pretrain"},
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or threads)
    try:
        result = loop.run()
    finally:
        torch.set_num_threads(threads)
    if result.status != "done":
        # A stopped run (Ctrl-C, SIGTERM) must not leave base weights that a later run would
        # take for a finished model and reuse.
        raise PretrainingStoppedError(
            f"pretraining stopped at step {result.position.step} of {config.steps}; "
            "nothing was saved — run it again to train the model"
        )
    output = run_dir / BASE_FILE
    save_weights(
        output,
        dict(model.cpu().state_dict()),
        {"model_spec": SHAPES_MODEL, "steps": str(config.steps), "seed": str(config.seed)},
    )
    return output


def register_trained_base(weights: Path) -> ModelSpec:
    """Register pretrained ``shapes-tiny`` weights as the model ``shapes-tiny-<sha12>``.

    The file is imported into the weights cache (verified by its sha256), so every part of DCLIP
    that builds models by name — teacher, student, region cache, exporter — finds it offline.
    """
    from dclip_core.models.weights import cached_weights_path, import_weights

    digest = sha256_file(weights)
    name = f"{SHAPES_MODEL}-{digest[:12]}"
    spec = dataclasses.replace(
        get_model_spec(SHAPES_MODEL),
        name=name,
        description="shapes-tiny pretrained on the shapes world (bag-of-objects captions)",
        base=f"{SHAPES_MODEL}/shapes-pretrained-{digest[:12]}",
        weights=WeightsSource(
            filename=f"{name}.safetensors", urls=(), sha256=digest, format="safetensors"
        ),
        meaningless=False,
    )
    register_model(spec, replace=True)
    if cached_weights_path(spec) is None:
        import_weights(spec, weights)
    return spec
