"""Teacher training and distillation end to end on test-tiny and shapes-world images."""

from __future__ import annotations

import io
import json
import math
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from dclip_core.cancel import CancelToken
from dclip_core.errors import TrainingError
from dclip_core.models.clip import create_clip
from dclip_core.models.teacher import load_teacher
from dclip_core.train.batching import epoch_order
from dclip_core.train.checkpoint import latest_checkpoint, load_checkpoint
from dclip_core.train.distill import load_student, select_trainable, train_student
from dclip_core.train.events import EventSink
from dclip_core.train.recipes import StudentRecipe
from dclip_core.train.regions import RegionCache
from dclip_core.train.runs import split_train_val
from dclip_core.train.stage import StageResult
from dclip_core.train.teacher_trainer import train_teacher
from tests.helpers.method_data import shapes_records, tiny_recipe

MODEL = "test-tiny"


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    return shapes_records(tmp_path_factory.mktemp("shapes"), 30)


@pytest.fixture(scope="module")
def regions(records: list[Any], tmp_path_factory: pytest.TempPathFactory) -> RegionCache:
    cache = RegionCache(MODEL, "gt", cache_dir=tmp_path_factory.mktemp("regions"))
    cache.prepare(records)
    return cache


class Recorder:
    """Collects events; optionally sends a signal to this process at a given step."""

    def __init__(self, signal_at_step: int | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.signal_at_step = signal_at_step

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if event["event"] == "step" and event["step"] == self.signal_at_step:
            os.kill(os.getpid(), signal.SIGINT)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


def _sink(recorder: Recorder) -> EventSink:
    return EventSink("none", listeners=[recorder])


def _teacher(
    records: list[Any], regions: RegionCache, run_dir: Path, rec: Recorder, **kw: Any
) -> StageResult:
    return train_teacher(
        records, model=MODEL, regions=regions, run_dir=run_dir, events=_sink(rec), **kw
    )


@pytest.fixture(scope="module")
def teacher_run(
    records: list[Any], regions: RegionCache, tmp_path_factory: pytest.TempPathFactory
) -> tuple[StageResult, Recorder]:
    rec = Recorder()
    run = _teacher(records, regions, tmp_path_factory.mktemp("teacher"), rec, recipe=tiny_recipe())
    return run, rec


def test_teacher_training_lowers_the_loss_and_reports_progress(
    teacher_run: tuple[StageResult, Recorder],
) -> None:
    run, rec = teacher_run
    assert run.status == "done"
    assert run.output is not None
    assert run.output.is_file()
    losses = [h["loss"] for h in run.val_history]
    assert len(losses) == 3
    assert losses[-1] < losses[0] * 0.9
    steps = rec.of("step")
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    assert {"loss", "contrastive", "lr", "samples_per_s", "eta_s", "epoch"} <= set(steps[0])
    assert rec.events[0]["event"] == "start"
    assert rec.events[-1]["event"] == "done"
    assert len(rec.of("eval")) == 3
    assert rec.of("checkpoint")
    loaded = load_teacher(run.output)
    assert loaded.base_model == MODEL
    assert loaded.teacher.config.heads == 8


def test_resumed_run_equals_uninterrupted_run(
    records: list[Any],
    regions: RegionCache,
    teacher_run: tuple[StageResult, Recorder],
    tmp_path: Path,
) -> None:
    full, full_events = teacher_run
    run_dir = tmp_path / "interrupted"
    first = Recorder(signal_at_step=6)  # mid-epoch 2, between periodic checkpoints
    stopped = _teacher(records, regions, run_dir, first, recipe=tiny_recipe())
    assert stopped.status == "stopped"
    assert first.of("stopped")[0]["signal"] == "SIGINT"
    assert stopped.output is None
    second = Recorder()
    resumed = _teacher(records, regions, run_dir, second, resume=True)
    assert resumed.status == "done"
    assert second.of("start")[0]["step"] == 6
    assert resumed.output is not None
    assert full.output is not None
    a = load_teacher(full.output).teacher.state_dict()
    b = load_teacher(resumed.output).teacher.state_dict()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=0)
    full_curve = [s["loss"] for s in full_events.of("step")]
    assert [s["loss"] for s in second.of("step")] == full_curve[6:]


@pytest.mark.slow
def test_a_cancel_token_stops_like_a_signal_and_the_run_resumes(
    records: list[Any], regions: RegionCache, tmp_path: Path
) -> None:
    cancel = CancelToken()

    def cancel_at_step_4(event: dict[str, Any]) -> None:
        if event["event"] == "step" and event["step"] == 4:
            cancel.cancel()  # as the app's worker does, from another thread

    rec = Recorder()
    events = EventSink("none", listeners=[rec, cancel_at_step_4])
    run_dir = tmp_path / "cancelled"
    stopped = train_teacher(
        records,
        model=MODEL,
        regions=regions,
        run_dir=run_dir,
        events=events,
        recipe=tiny_recipe(),
        cancel=cancel,
    )
    assert stopped.status == "stopped"
    assert stopped.stop_signal == "cancel"
    assert rec.of("stopped")[0]["step"] == 4
    assert stopped.output is None
    assert latest_checkpoint(run_dir) is not None
    resumed = _teacher(records, regions, run_dir, Recorder(), resume=True)
    assert resumed.status == "done"
    assert resumed.output is not None


class PoisonedRegions:
    """A region cache whose entry for one image went bad (NaN), as a damaged cache would."""

    def __init__(self, cache: RegionCache, poisoned: Path) -> None:
        self.cache, self.poisoned = cache, poisoned

    def get(self, image_path: Path, gt_boxes: Any = None) -> Any:
        regions = self.cache.get(image_path, gt_boxes)
        if image_path == self.poisoned:
            regions = type(regions)(
                regions.boxes,
                torch.full_like(regions.embeddings, float("nan")),
                regions.scores,
                regions.labels,
                regions.placeholder,
            )
        return regions


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    records: list[Any], regions: RegionCache, tmp_path: Path
) -> None:
    recipe = tiny_recipe(checkpoint_every=1)  # type: ignore[arg-type]
    train, _ = split_train_val(records, recipe.data.val_fraction, recipe.seed)
    # an image of the third batch of epoch 1, so two good steps come first
    poisoned = train[epoch_order(len(train), recipe.seed, 0)[20]].path
    rec = Recorder()
    run_dir = tmp_path / "nan"
    with pytest.raises(TrainingError, match="loss is not finite at step 3") as info:
        _teacher(records, PoisonedRegions(regions, poisoned), run_dir, rec, recipe=recipe)  # type: ignore[arg-type]
    assert "step-00000002" in str(info.value)
    assert rec.of("error")[0]["message"] == str(info.value)
    last = latest_checkpoint(run_dir)
    assert last is not None
    assert last.name == "step-00000002"
    weights = load_checkpoint(last).weights
    assert all(torch.isfinite(w).all() for w in weights.values())


@pytest.mark.slow
def test_distillation_trains_only_the_attention_projections(
    records: list[Any],
    regions: RegionCache,
    teacher_run: tuple[StageResult, Recorder],
    tmp_path: Path,
) -> None:
    teacher, _ = teacher_run
    assert teacher.output is not None
    rec = Recorder()
    run = train_student(
        records,
        teacher_path=teacher.output,
        regions=regions,
        run_dir=tmp_path / "student",
        recipe=tiny_recipe(),
        events=_sink(rec),
    )
    assert run.status == "done"
    assert run.output is not None
    val = [h["loss"] for h in run.val_history]
    assert val[-1] < val[0]
    assert {"image", "text", "contrastive"} <= set(rec.of("step")[0])
    student, base_name = load_student(run.output)
    assert base_name == MODEL
    base = create_clip(MODEL).state_dict()
    changed = {k for k, v in student.state_dict().items() if not torch.equal(v, base[k])}
    assert "visual.proj" in changed
    assert "visual.transformer.resblocks.0.attn.in_proj_weight" in changed
    assert all(".attn." in k or k == "visual.proj" for k in changed)
    assert not any(k.startswith(("transformer.", "token_embedding")) for k in changed)


def test_trainable_sets() -> None:
    model = create_clip(MODEL)
    vision = select_trainable(model, StudentRecipe(trainable="vision"))
    assert "visual.transformer.resblocks.0.mlp.c_fc.weight" in vision
    assert not any(n.startswith("transformer.") for n in vision)
    with_text = select_trainable(model, StudentRecipe(trainable="attn-proj", train_text=True))
    assert "transformer.resblocks.0.mlp.c_proj.weight" in with_text
    assert "visual.transformer.resblocks.0.mlp.c_proj.weight" not in with_text
    everything = select_trainable(model, StudentRecipe(trainable="all"))
    assert "logit_scale" not in everything
    assert len(everything) == sum(1 for _ in model.parameters()) - 1


def test_attn_proj_of_a_conv_tower_is_its_attention_pool() -> None:
    # shapes-tiny's image tower is a ConvTower: its only attention is the pooling layer.
    model = create_clip("shapes-tiny")
    trained = select_trainable(model, StudentRecipe(trainable="attn-proj"))
    assert trained
    assert all(name.startswith("visual.attnpool.") and "_proj." in name for name in trained)
    assert {n.split(".")[2] for n in trained} == {"q_proj", "k_proj", "v_proj", "c_proj"}


def test_a_teacher_of_another_base_model_is_refused(
    records: list[Any],
    regions: RegionCache,
    teacher_run: tuple[StageResult, Recorder],
    tmp_path: Path,
) -> None:
    teacher, _ = teacher_run
    assert teacher.output is not None
    with pytest.raises(TrainingError, match="trained on 'test-tiny' features"):
        train_student(
            records,
            teacher_path=teacher.output,
            regions=regions,
            run_dir=tmp_path / "s",
            model="random-vit-b-32",
            recipe=tiny_recipe(),
            events=EventSink("none"),
        )


def test_resume_refuses_another_dataset(
    records: list[Any], regions: RegionCache, teacher_run: tuple[StageResult, Recorder]
) -> None:
    teacher, _ = teacher_run
    with pytest.raises(TrainingError, match="the dataset changed"):
        _teacher(records[:-3], regions, teacher.run_dir, Recorder(), resume=True)


def test_jsonl_events_are_one_json_object_per_line() -> None:
    out = io.StringIO()
    sink = EventSink("jsonl", stream=out)
    sink.emit("step", stage="teacher", step=1, loss=float("nan"))
    sink.emit("done", stage="teacher")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in lines] == ["step", "done"]
    assert lines[0]["loss"] == "nan"


@pytest.mark.slow
@pytest.mark.parametrize("train_text", [False, True], ids=["text-frozen", "text-trained"])
def test_hard_negatives_are_learned_through_either_text_tower(
    records: list[Any],
    regions: RegionCache,
    teacher_run: tuple[StageResult, Recorder],
    tmp_path: Path,
    train_text: bool,
) -> None:
    """``student.w_neg`` adds the hard-negative term; training lowers it on the training photos."""
    teacher, _ = teacher_run
    assert teacher.output is not None
    rec = Recorder()
    recipe = tiny_recipe(
        student={
            "w_neg": 5.0,
            "train_text": train_text,
            "trainable": "vision",
            "lr": 1e-3,
            "epochs": 30,
        },
        data={"val_fraction": 0.0},
    )
    run = train_student(
        records,
        teacher_path=teacher.output,
        regions=regions,
        run_dir=tmp_path / "student",
        recipe=recipe,
        events=_sink(rec),
    )
    assert run.status == "done"
    negative = [s["negative"] for s in rec.of("step")]
    assert all(map(math.isfinite, negative))
    # Each epoch brings each caption's next negative, so single steps are noisy: thirds of the run.
    third = len(negative) // 3
    assert sum(negative[-third:]) < sum(negative[:third])
    student, _ = load_student(run.output or Path())
    base = create_clip(MODEL).state_dict()
    text_changed = not torch.equal(
        student.state_dict()["token_embedding.weight"], base["token_embedding.weight"]
    )
    assert text_changed == train_text
