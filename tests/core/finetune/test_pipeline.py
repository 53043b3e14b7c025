"""The fine-tune pipeline end to end on test-tiny: stages, run folder, events, stop and resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dclip_core.cancel import CancelToken
from dclip_core.errors import TrainingError
from dclip_core.finetune.pipeline import (
    FinetuneResult,
    resume_finetune,
    run_stages,
    start_finetune,
)
from dclip_core.finetune.run_folder import STAGES, FinetuneOptions
from dclip_core.runtime.bundle import load_manifest
from dclip_core.train.events import EventSink
from tests.helpers.method_data import tiny_recipe

pytestmark = pytest.mark.slow


def _options(folder: Path, **changes: Any) -> FinetuneOptions:
    values: dict[str, Any] = {
        "sources": [f"shapes={folder}"],
        "model": "test-tiny",
        "recipe": tiny_recipe(),
        "explain": False,
        "estimate": False,
    }
    values.update(changes)
    return FinetuneOptions(**values)


class Recorder:
    """Collects events; sets a cancel token at a given step of a given stage."""

    def __init__(self, stop_at: tuple[str, int] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.stop_at = stop_at
        self.cancel = CancelToken()

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if event["event"] == "step" and (event["stage"], event["step"]) == self.stop_at:
            self.cancel.cancel()

    def of(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


def _run(
    options: FinetuneOptions, run_dir: Path, rec: Recorder
) -> tuple[FinetuneResult, EventSink]:
    sink = EventSink("none", listeners=[rec])
    run, _ = start_finetune(options, run_dir, sink)
    return run_stages(run, sink, device="cpu", cancel=rec.cancel), sink


@pytest.fixture(scope="module")
def finished(
    shapes_folder_master: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[FinetuneResult, Recorder]:
    rec = Recorder()
    root = tmp_path_factory.mktemp("finetune")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DCLIP_HOME", str(root / "home"))
        result, _ = _run(
            _options(shapes_folder_master, explain=True, estimate=True), root / "run", rec
        )
    return result, rec


def test_a_run_goes_through_every_stage_and_leaves_its_results(
    finished: tuple[FinetuneResult, Recorder],
) -> None:
    result, _ = finished
    assert result.status == "finished"
    run = result.run_dir
    for name in ("finetune.json", "datacheck.json", "split.json", "estimate.json", "eval.json"):
        assert (run / name).is_file(), name
    recorded = json.loads((run / "finetune.json").read_text())["stages"]
    assert list(recorded) == list(STAGES)
    assert (run / "teacher" / "teacher.safetensors").is_file()
    assert (run / "student" / "student.safetensors").is_file()
    manifest = load_manifest(run / "bundle")
    assert manifest.kind == "dclip-student"
    assert (run / "bundle" / "explain").is_dir()
    provenance = json.loads((run / "bundle" / "bundle.json").read_text())["provenance"]
    assert provenance["finetune"]["verdict"] == result.verdict
    split = json.loads((run / "split.json").read_text())
    held = {r["path"] for r in split["held_out"]}
    assert held
    assert not held & {r["path"] for r in split["train"]}
    assert not list(run.parent.glob(".*partial"))


def test_events_tell_the_whole_pipeline(finished: tuple[FinetuneResult, Recorder]) -> None:
    result, rec = finished
    started = [e["stage"] for e in rec.of("stage") if e["status"] == "start"]
    assert started == list(STAGES[:1] + STAGES[2:])  # the split runs inside the check
    assert rec.of("datacheck")[0]["trainable"] == 24
    estimate = rec.of("estimate")[0]
    assert estimate["device"].startswith("CPU")
    assert estimate["teacher_steps"] == 9
    assert estimate["teacher_s_per_step"] > 0
    steps = rec.of("step")
    assert {s["stage"] for s in steps} == {"teacher", "student"}
    assert {"loss", "samples_per_s", "eta_s"} <= set(steps[0])
    table = rec.of("evaluation")[0]
    assert table["photos"] == 5
    assert [r["metric"] for r in table["rows"]][:2] == ["t2i_r1", "t2i_r5"]
    assert "hard_negative_accuracy" in {r["metric"] for r in table["rows"]}
    assert rec.of("verdict")[0]["text"] == result.verdict
    assert rec.of("bundle")[0]["path"] == str(result.bundle)
    assert rec.events[-1]["event"] == "finished"
    on_disk = [json.loads(line) for line in (result.run_dir / "events.jsonl").open()]
    assert [e["event"] for e in on_disk] == [e["event"] for e in rec.events]


def test_a_finished_run_is_not_resumed(finished: tuple[FinetuneResult, Recorder]) -> None:
    result, _ = finished
    with pytest.raises(TrainingError, match="is finished"):
        resume_finetune(result.run_dir, EventSink("none"))


def test_a_run_folder_is_never_reused(
    finished: tuple[FinetuneResult, Recorder], shapes_folder: Path
) -> None:
    result, _ = finished
    with pytest.raises(TrainingError, match="never overwritten"):
        start_finetune(_options(shapes_folder), result.run_dir, EventSink("none"))


def test_stopped_in_each_training_stage_then_resumed_ends_like_an_uninterrupted_run(
    finished: tuple[FinetuneResult, Recorder], shapes_folder_master: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "stopped"
    first = Recorder(stop_at=("teacher", 5))
    stopped, _ = _run(_options(shapes_folder_master), run_dir, first)
    assert stopped.status == "stopped"
    recorded = json.loads((run_dir / "finetune.json").read_text())["stages"]
    assert "teacher" not in recorded

    second = Recorder(stop_at=("student", 1))
    sink = EventSink("none", listeners=[second])
    run, _ = resume_finetune(run_dir, sink)
    assert run_stages(run, sink, device="cpu", cancel=second.cancel).status == "stopped"
    assert second.of("start")[0]["step"] == 5  # the teacher went on from its checkpoint
    assert "teacher" in json.loads((run_dir / "finetune.json").read_text())["stages"]

    third = Recorder()
    sink = EventSink("none", listeners=[third])
    run, _ = resume_finetune(run_dir, sink)
    resumed = run_stages(run, sink, device="cpu")
    assert resumed.status == "finished"
    assert third.of("start")[0]["stage"] == "student"
    assert third.of("start")[0]["step"] == 1
    want = json.loads((finished[0].run_dir / "eval.json").read_text())
    got = json.loads((run_dir / "eval.json").read_text())
    assert got["base"] == want["base"]
    assert got["student"] == want["student"]
    assert resumed.verdict == finished[0].verdict
