"""The shapes world's "base CLIP": ``shapes-tiny`` pretrained from scratch on bag captions.

No pretrained weights can be downloaded here, so the base model of the shapes experiments is
trained by us: CLIP contrastive learning (symmetric InfoNCE) on ``pretrain/`` and its object
close-ups ``pretrain-objects/``, run by the same :class:`~dclip_core.train.loop.TrainingLoop` as
the method's stages, in two phases:

1. ``pretrain-image``: the image tower alone learns to match the text tower *at its random
   init* (a fixed random target for every caption, like a classifier's random head);
2. ``pretrain``: both towers together.

Trained together from the first step, the towers settle on colour — enough to tell most captions
of a batch apart — and reach shape only after a long plateau: neither tower separates "a red
circle" from "a red square" while the other does not, so neither is pushed to (a saddle). The
random text tower breaks the tie: it already tells every caption apart. Measured on held-out
object crops after 800 steps: 36-way zero-shot accuracy 0.41 trained jointly, 0.97 with the
first phase (docs/adr/0013-conv-tower.md).

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

from dclip_core.cancel import CancelToken
from dclip_core.errors import TrainingError
from dclip_core.models.clip import create_clip
from dclip_core.models.registry import ModelSpec, WeightsSource, get_model_spec, register_model
from dclip_core.runtime.bundle import sha256_file
from dclip_core.runtime.preprocess import load_pixels
from dclip_core.runtime.tokenizer import ClipTokenizer
from dclip_core.shapes.recipe import PRETRAIN_TEMPERATURE, SHAPES_MODEL, PretrainConfig
from dclip_core.shapes.world import ShapesWorld, shapes_records
from dclip_core.train.batching import Example
from dclip_core.train.checkpoint import save_weights
from dclip_core.train.datasets import read_caption_folder
from dclip_core.train.distill import StudentForward
from dclip_core.train.distributed import init_distributed
from dclip_core.train.events import EventSink
from dclip_core.train.loop import LoopConfig, TrainingLoop
from dclip_core.train.losses import LossTerms, info_nce

BASE_FILE = "base.safetensors"


class PretrainingStoppedError(TrainingError):
    """The pretraining was interrupted before its last step."""


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
        self.train_text(True)

    def train_text(self, train: bool) -> None:
        """Train both towers, or (``False``: phase 1, stage ``pretrain-image``) the image tower."""
        self.stage = "pretrain" if train else "pretrain-image"
        for name, param in self.model.named_parameters():
            # logit_scale stays fixed (PRETRAIN_TEMPERATURE); a trainable unused one breaks DDP.
            # The 49408-row token table stays at its random init: random rows are distinct
            # enough for the ~30 words of the world, and updating it would cost a third of each
            # step on two cores.
            frozen = name in ("logit_scale", "logit_bias", "token_embedding.weight")
            param.requires_grad_(not frozen and (train or name.startswith("visual.")))

    def train_module(self) -> nn.Module:
        return self.forward_module

    def _pixels_of(self, paths: Sequence[Path]) -> torch.Tensor:
        missing = [p for p in paths if p not in self._pixels]
        if missing:
            for path, pixels in zip(
                missing, torch.from_numpy(load_pixels(missing, self.spec.preprocess)), strict=True
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
    cancel: CancelToken | None = None,
) -> Path:
    """Pretrain ``shapes-tiny`` on ``world.pretrain_dir``; returns ``<run_dir>/base.safetensors``.

    SIGINT/SIGTERM or ``cancel`` stop it with :class:`PretrainingStoppedError`, saving nothing.

    The architecture's random init is seeded by ``config.seed``, so two seeds are two independent
    base models.
    """
    spec = dataclasses.replace(get_model_spec(SHAPES_MODEL), seed=1000 + config.seed)
    ctx = init_distributed()
    model = create_clip(spec).to(ctx.device)
    task = ContrastivePretrainTask(model, spec, ctx.device)
    records = shapes_records(world.pretrain_dir) + read_caption_folder(world.pretrain_objects_dir)
    frozen_text_steps = round(config.steps * config.frozen_text_share)
    phases = [(False, frozen_text_steps), (True, config.steps - frozen_text_steps)]
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or threads)
    try:
        for phase, (train_text, steps) in enumerate(phases):
            if steps == 0:
                continue
            task.train_text(train_text)
            loop_config = LoopConfig(
                epochs=10_000,  # bounded by max_steps
                batch_size=config.batch_size,
                optimizer="adamw",
                lr=config.lr,
                weight_decay=config.weight_decay,
                # Phase 1 keeps its learning rate up: phase 2 goes on from where it stops.
                schedule="cosine" if train_text else "constant",
                warmup_steps=config.warmup_steps,
                seed=config.seed + phase,
                precision="fp32",
                checkpoint_every=10**9,  # a few minutes of work: no intermediate checkpoints
                keep_checkpoints=1,
                max_steps=steps,
            )
            loop = TrainingLoop(
                task,
                records,
                [],
                loop_config,
                run_dir / task.stage,
                events or EventSink("none"),
                ctx,
                meta={"model": SHAPES_MODEL, "stage": task.stage},
            )
            result = loop.run(cancel)
            if result.status != "done":
                # A stopped run (Ctrl-C, SIGTERM) must not leave base weights that a later run
                # would take for a finished model and reuse.
                done = sum(s for _, s in phases[:phase]) + result.position.step
                raise PretrainingStoppedError(
                    f"pretraining stopped at step {done} of {config.steps}; "
                    "nothing was saved — run it again to train the model"
                )
    finally:
        torch.set_num_threads(threads)
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
