"""Stage 2: distil the teacher into a student CLIP (``dclip distill``).

The student starts as a copy of the base CLIP. Per step it embeds the images and captions; the
frozen teacher fuses the images' regions with the captions' spans into targets ``g``; the hybrid
loss pulls the student's image embedding towards ``g``, keeps its text embedding at the base
model's, and aligns the two contrastively.

Trainable sets (``--trainable``): ``attn-proj`` — the paper code's choice, every vision attention
projection (q, k, v, out; for a ResNet tower those of its attention pool) plus the visual
projection; ``vision`` — the whole image tower; ``all`` — both towers. ``--train-text`` adds the
text tower to ``attn-proj``/``vision``; by default it is frozen, as the paper and README say (the
released code leaves it trainable).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import open_clip
import torch
from torch import nn

from dclip_core.cancel import CancelToken
from dclip_core.errors import TrainingError
from dclip_core.models.clip import create_clip
from dclip_core.models.registry import get_model_spec
from dclip_core.models.teacher import CrossModalTeacher, load_teacher
from dclip_core.models.text_features import FrozenTextEncoder
from dclip_core.runtime.preprocess import ImagePreprocess, load_pixels
from dclip_core.runtime.tokenizer import ClipTokenizer
from dclip_core.train.batching import CaptionedRecord, Example
from dclip_core.train.checkpoint import save_weights
from dclip_core.train.distributed import DistContext, init_distributed
from dclip_core.train.events import EventSink
from dclip_core.train.loop import TrainingResult
from dclip_core.train.losses import LossTerms, hybrid_loss
from dclip_core.train.negatives import hard_negative
from dclip_core.train.recipes import Recipe, StudentRecipe, get_recipe
from dclip_core.train.runs import start_or_resume
from dclip_core.train.stage import StageResult, run_stage
from dclip_core.train.teacher_trainer import RegionLookup, region_batch

STUDENT_FILE = "student.safetensors"
STUDENT_FORMAT = "dclip-student/1"
# Parameters no loss term reaches; a trainable unused parameter would also break DDP.
_NEVER_TRAINED = ("logit_scale", "logit_bias")


def _is_text_param(name: str) -> bool:
    return not name.startswith("visual.") and name not in _NEVER_TRAINED


def _is_attn_proj(name: str) -> bool:
    """Attention projections of the vision tower, for a ViT and for a conv tower alike.

    A ViT's blocks pack q/k/v into ``attn.in_proj_*`` (the MLP's ``c_proj`` is not attention);
    the only attention of a ModifiedResNet or of DCLIP's ConvTower is its pooling layer,
    ``attnpool.{q,k,v,c}_proj``.
    """
    if not name.startswith("visual."):
        return False
    return (
        ".attn.in_proj_" in name
        or ".attn.out_proj." in name
        or (name.startswith("visual.attnpool.") and "_proj." in name)
    )


def select_trainable(model: open_clip.CLIP, recipe: StudentRecipe) -> list[str]:
    """Set ``requires_grad`` of the student's parameters per the recipe; return trained names."""
    trained: list[str] = []
    for name, param in model.named_parameters():
        if name in _NEVER_TRAINED:
            train = False
        elif _is_text_param(name):
            train = recipe.train_text or recipe.trainable == "all"
        elif recipe.trainable == "attn-proj":
            train = _is_attn_proj(name) or name == "visual.proj"
        else:
            train = True  # vision and all: every vision parameter
        param.requires_grad_(train)
        if train:
            trained.append(name)
    return trained


class StudentForward(nn.Module):
    """Runs the student's towers in one forward, so DDP sees a single module call."""

    def __init__(self, clip: open_clip.CLIP) -> None:
        super().__init__()
        self.clip = clip

    def forward(
        self, pixels: torch.Tensor, input_ids: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        image = self.clip.encode_image(pixels)
        text = self.clip.encode_text(input_ids) if input_ids is not None else None
        return image, text


class StudentTask:
    """The distillation stage for :class:`~dclip_core.train.loop.TrainingLoop`."""

    stage = "student"

    def __init__(
        self,
        student: open_clip.CLIP,
        teacher: CrossModalTeacher,
        text_encoder: FrozenTextEncoder,
        regions: RegionLookup,
        preprocess: ImagePreprocess,
        recipe: StudentRecipe,
        device: torch.device,
    ) -> None:
        self.student = student
        self.forward_module = StudentForward(student)
        self.teacher = teacher
        self.text_encoder = text_encoder
        self.regions = regions
        self.preprocess = preprocess
        self.recipe = recipe
        self.device = device
        self.trained = select_trainable(student, recipe)
        # A frozen text tower equals the base one, so its embeddings are the base embeddings.
        self.text_trainable = any(_is_text_param(n) for n in self.trained)

    def train_module(self) -> nn.Module:
        return self.forward_module

    def compute_loss(self, module: nn.Module, examples: Sequence[Example]) -> LossTerms:
        captions = [e.caption for e in examples]
        text = self.text_encoder.encode(captions)
        regions, region_mask = region_batch(self.regions, examples, self.device)
        with torch.no_grad():
            target = self.teacher(text.spans, text.span_mask, regions, region_mask)
        paths = [e.record.path for e in examples]
        pixels = torch.from_numpy(load_pixels(paths, self.preprocess)).to(self.device)
        r = self.recipe
        # Each epoch a caption takes the next of its hard negatives (resume-exact: see negatives).
        negatives = [hard_negative(e.caption, e.epoch) for e in examples] if r.w_neg > 0 else []
        # A caption without a hard negative stands in for it; the mask keeps it out of the loss.
        stand_ins = [n or c for n, c in zip(negatives, captions, strict=False)]
        input_ids = None
        if self.text_trainable:
            # Captions and negatives in one module call, so DDP sees every use of the text tower.
            input_ids = self.text_encoder.token_ids([*captions, *stand_ins])
        image, texts = module(pixels, input_ids)
        if texts is None:  # a frozen text tower gives the base model's embeddings
            texts = text.sentence
            if stand_ins:
                texts = torch.cat([texts, self.text_encoder.sentences(stand_ins)])
        return hybrid_loss(
            image,
            texts[: len(captions)],
            target.global_embedding,
            text.sentence,
            w_img=r.w_img,
            w_txt=r.w_txt,
            w_con=r.w_con,
            temperature=r.temperature,
            negative_text=texts[len(captions) :] if negatives else None,
            negative_mask=torch.tensor([n is not None for n in negatives], device=self.device)
            if negatives
            else None,
            w_neg=r.w_neg,
        )

    def checkpoint_weights(self) -> dict[str, torch.Tensor]:
        params = dict(self.student.named_parameters())
        return {name: params[name] for name in self.trained}

    def load_checkpoint_weights(self, weights: dict[str, torch.Tensor]) -> None:
        params = dict(self.student.named_parameters())
        missing = set(self.trained) - set(weights)
        if missing:
            raise TrainingError(
                f"checkpoint lacks {len(missing)} trained tensors (e.g. {sorted(missing)[0]}); "
                "it belongs to a run with another trainable set"
            )
        with torch.no_grad():
            for name in self.trained:
                params[name].copy_(weights[name])


def save_student(path: Path, student: open_clip.CLIP, *, model: str, extra: dict[str, Any]) -> None:
    """Write the full student state dict (open_clip names) as safetensors with its provenance.

    ``dclip export --checkpoint student.safetensors --model <base>`` packages it as a bundle.
    """
    import json

    save_weights(
        path,
        dict(student.state_dict()),
        {"format": STUDENT_FORMAT, "model_spec": model, "extra": json.dumps(extra)},
    )


def train_student(
    records: Sequence[CaptionedRecord],
    *,
    teacher_path: Path,
    regions: RegionLookup,
    run_dir: Path,
    model: str | None = None,
    recipe: Recipe | None = None,
    events: EventSink | None = None,
    ctx: DistContext | None = None,
    resume: bool = False,
    max_steps: int | None = None,
    cancel: CancelToken | None = None,
    data_summary: dict[str, Any] | None = None,
) -> StageResult:
    """Distil a trained teacher into a student CLIP, written to ``<run_dir>/student.safetensors``.

    Args:
        records: captioned training images (90/10 train/val split taken from them).
        teacher_path: a ``teacher.safetensors`` from :func:`train_teacher`.
        regions: the region cache of the teacher's base model.
        run_dir: checkpoints and the final student go here.
        model: the base CLIP; defaults to the teacher's (they must be the same).
        recipe: ``paper`` by default; ignored when resuming.
        events, ctx, resume, max_steps, cancel, data_summary: as in :func:`train_teacher`.
    """
    ctx = ctx or init_distributed()
    events = events or EventSink("text", enabled=ctx.is_main)
    loaded = load_teacher(teacher_path)
    run = start_or_resume(
        run_dir,
        "student",
        num_records=len(records),
        resume=resume,
        recipe=recipe or get_recipe("paper"),
        model=model or loaded.base_model,
        is_main=ctx.is_main,
        data_summary=data_summary,
        extra={"teacher": str(teacher_path)},
    )
    recipe, model, checkpoint = run.recipe, run.model, run.checkpoint
    if model != loaded.base_model:
        raise TrainingError(
            f"teacher {teacher_path} was trained on {loaded.base_model!r} features but the student "
            f"is {model!r}; distil into the teacher's base model or train a teacher for {model!r}"
        )
    spec = get_model_spec(model)
    base = create_clip(spec).to(ctx.device).requires_grad_(False)
    student = copy.deepcopy(base)
    tokenizer = ClipTokenizer(ClipTokenizer.default_vocab_path(), spec.context_length)
    # The teacher is fed the span features it was trained on (its file says which).
    text_encoder = FrozenTextEncoder.for_teacher(base, tokenizer, loaded.extra)
    teacher = loaded.teacher.to(ctx.device).requires_grad_(False)
    task = StudentTask(
        student, teacher, text_encoder, regions, spec.preprocess, recipe.student, ctx.device
    )

    def save(result: TrainingResult) -> Path:
        output = run_dir / STUDENT_FILE
        save_student(
            output,
            student,
            model=model,
            extra={
                "recipe": recipe.to_json(),
                "teacher": str(teacher_path),
                "val_history": result.val_history,
                "steps": result.position.step,
            },
        )
        return output

    return run_stage(
        "student",
        task,
        records,
        recipe=recipe,
        run_dir=run_dir,
        checkpoint=checkpoint,
        events=events,
        ctx=ctx,
        meta={"model": model, "recipe": recipe.name, "teacher": str(teacher_path)},
        save=save,
        max_steps=max_steps,
        cancel=cancel,
    )


def load_student(path: Path, model: str | None = None) -> tuple[open_clip.CLIP, str]:
    """A student saved by :func:`save_student` (eval mode, CPU) and its base model name.

    Raises:
        TrainingError: missing, corrupt, or not a student file.
    """
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise TrainingError(f"student file {path} does not exist; train one with `dclip distill`")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as exc:
        raise TrainingError(f"student file {path} is corrupt or truncated: {exc}") from exc
    name = model or metadata.get("model_spec")
    if not name:
        raise TrainingError(f"{path} does not say its base model; pass --model")
    student = create_clip(name)
    try:
        student.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise TrainingError(f"{path} does not fit model {name!r}: {str(exc)[:200]}") from exc
    return student.eval(), name
