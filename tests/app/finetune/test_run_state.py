"""The wizard's Qt-free run model: a run's events → what the pages show, and the events file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dclip_app.finetune.events_file import EventTail
from dclip_app.finetune.run_state import RunState, RunStatus, format_duration


def _event(name: str, stage: str, **fields: Any) -> dict[str, Any]:
    return {"event": name, "time": 0.0, "stage": stage, **fields}


def _steps(stage: str, steps: range, total: int) -> list[dict[str, Any]]:
    return [
        _event(
            "step", stage, step=s, total_steps=total, epoch=0, loss=2.0 / s, samples_per_s=12.5,
            eta_s=float(total - s), lr=1e-4,
        )
        for s in steps
    ]  # fmt: skip


def _stage(stage: str, status: str, index: int) -> dict[str, Any]:
    return _event("stage", stage, status=status, index=index, of=7)


RUN_START = [
    _stage("check", "start", 0),
    _event("warning", "check", message="only 19 photos to train on"),
    _stage("check", "done", 0),
    _event("stage", "split", status="done", index=1, of=7, train=19, held_out=5, seed=42),
    _event("run", "split", path="/runs/r1", base_model="test-tiny"),
    _stage("estimate", "start", 2),
    _event("estimate", "estimate", device="CPU (2 cores)", text="about 10 s on CPU (2 cores)"),
    _stage("estimate", "done", 2),
    _stage("teacher", "start", 3),
    _event("start", "teacher", step=0, total_steps=9, resumed_from=None),
]


def test_training_events_give_stage_step_speed_eta_and_loss_points() -> None:
    state = RunState()
    state.apply_all([*RUN_START, *_steps("teacher", range(1, 5), 9)])
    assert state.status is RunStatus.RUNNING
    assert state.run_dir == Path("/runs/r1")
    assert state.stage == "teacher"
    assert state.stage_text == "Training the teacher (4 of 7)"
    assert state.finished_stages == ["check", "split", "estimate"]
    assert state.progress_text() == ("step 4 of 9 · 12.5 samples/s · about 5 s left in this stage")
    assert state.loss_points("teacher") == [(1, 2.0), (2, 1.0), (3, 2.0 / 3), (4, 0.5)]
    assert state.warnings == ["only 19 photos to train on"]
    assert state.estimate_text == "about 10 s on CPU (2 cores)"
    assert 3 / 7 < state.overall_fraction() < 4 / 7


def test_a_stop_then_a_resume_keeps_one_curve_with_the_redone_steps_replaced() -> None:
    state = RunState()
    state.apply_all([*RUN_START, *_steps("teacher", range(1, 6), 9)])
    state.apply_all([_event("stopped", "teacher", step=5), _stage("teacher", "stopped", 3)])
    assert state.status is RunStatus.STOPPED
    assert state.resumable
    state.process_ended(130)
    assert state.status is RunStatus.STOPPED  # the stop was said already: not "interrupted"

    resumed = [
        _event("resume", "finetune", path="/runs/r1", finished=["check", "split", "estimate"]),
        _stage("teacher", "start", 3),
        _event("start", "teacher", step=4, total_steps=9, resumed_from="checkpoints/latest"),
        *[{**e, "loss": 0.1} for e in _steps("teacher", range(5, 10), 9)],
    ]
    state.apply_all(resumed)
    assert state.attempts == 1
    points = dict(state.loss_points("teacher"))
    assert sorted(points) == list(range(1, 10))
    assert points[5] == 0.1  # the step done again replaced the first try's


def test_a_process_that_vanishes_mid_stage_is_interrupted_and_resumable() -> None:
    state = RunState()
    state.apply_all([*RUN_START, *_steps("teacher", range(1, 3), 9)])
    state.process_ended(-9)
    assert state.status is RunStatus.INTERRUPTED
    assert state.resumable
    assert "killed" in state.message


def test_evaluation_verdict_bundle_and_finish() -> None:
    state = RunState()
    state.apply_all(RUN_START)
    rows = [
        {"metric": "t2i_r1", "label": "text→image R@1", "base": 10.0, "student": 30.0,
         "change_points": 20.0},
        {"metric": "i2t_r1", "label": "image→text R@1", "base": 12.0, "student": 11.0,
         "change_points": -1.0},
    ]  # fmt: skip
    state.apply_all(
        [
            _event("evaluation", "evaluate", photos=5, queries=15, rows=rows),
            _event("verdict", "evaluate", helped=True, text="+20.0 points: use it"),
            _event("bundle", "export", path="/runs/r1/bundle"),
            _event(
                "finished",
                "finetune",
                run="/runs/r1",
                bundle="/runs/r1/bundle",
                verdict="+20.0 points: use it",
                helped=True,
            ),
        ]
    )
    assert state.status is RunStatus.FINISHED
    assert not state.resumable
    assert [r.change_points for r in state.rows] == [20.0, -1.0]
    assert state.held_out_photos == 5
    assert state.verdict == "+20.0 points: use it"
    assert state.helped
    assert state.bundle == Path("/runs/r1/bundle")
    assert state.overall_fraction() == 1.0


def test_an_error_event_fails_the_run_with_its_line() -> None:
    state = RunState()
    state.apply_all([*RUN_START, _event("error", "finetune", message="out of memory in teacher")])
    assert state.status is RunStatus.FAILED
    assert state.error == "out of memory in teacher"
    state.process_ended(1)
    assert state.status is RunStatus.FAILED


def test_event_tail_hands_out_complete_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    tail = EventTail(path)
    assert tail.read() == []  # not there yet
    with path.open("w") as handle:
        handle.write(json.dumps({"event": "a"}) + "\n" + '{"event": "b"')
    assert [e["event"] for e in tail.read()] == ["a"]
    with path.open("a") as handle:
        handle.write(', "x": 1}\nnot json\n' + json.dumps({"event": "c"}) + "\n")
    assert [e["event"] for e in tail.read()] == ["b", "c"]
    assert tail.read() == []


def test_durations_read_like_people_say_them() -> None:
    assert format_duration(45) == "45 s"
    assert format_duration(600) == "10 min"
    assert format_duration(3900) == "1 h 05 min"
