"""The wizard's Qt-free parts: unfinished runs on disk, the data and recipe choices as ``dclip``
arguments, the check report and the model switch answer, and the values the app repeats from the
training package (which it cannot import)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dclip_app.child_process import parse_event
from dclip_app.finetune.check_report import CheckReport, read_check
from dclip_app.finetune.commands import ModelSwitchResult, SwitchProgress, train_command
from dclip_app.finetune.data_sources import DataChoice
from dclip_app.finetune.recipes import RECIPE_VALUES, RecipeChoice
from dclip_app.finetune.runs import (
    PROCESS_FILE,
    find_unfinished_runs,
    new_run_dir,
    process_alive,
    runs_root,
    write_process_file,
)
from dclip_app.finetune.stages import STAGES


def _run_folder(root: Path, name: str, stages: list[str], pid: int = 999_999_999) -> Path:
    run = root / name
    run.mkdir(parents=True)
    data = {
        "format": "dclip-finetune/1",
        "created": f"2026-01-01T00:00:{len(stages):02d}+00:00",
        "pid": pid,
        "options": {"sources": ["folder=/home/user/Pictures"]},
        "base_model": "test-tiny",
        "stages": {s: {"finished": "", "result": {}} for s in stages},
    }
    (run / "finetune.json").write_text(json.dumps(data))
    return run


def test_unfinished_runs_are_found_newest_first_without_finished_or_hidden_ones() -> None:
    root = runs_root()
    _run_folder(root, "finished", list(STAGES))
    older = _run_folder(root, "older", ["check", "split"])
    newer = _run_folder(root, "newer", ["check", "split", "estimate", "teacher"])
    _run_folder(root, ".assembling.partial", ["check", "split"])
    (root / "not-a-run").mkdir()
    runs = find_unfinished_runs()
    assert [r.path for r in runs] == [newer, older]
    assert runs[0].next_stage == "student"
    assert runs[0].pid is None
    assert not runs[0].running
    assert runs[0].describe() == "newer: folder=/home/user/Pictures (stopped before student)"


def test_a_run_whose_process_lives_is_running() -> None:
    # a live process whose command line names finetune, as `python -m dclip_core finetune` does
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "finetune"])
    try:
        run = _run_folder(runs_root(), "live", ["check", "split"])
        write_process_file(run, child.pid, ["dclip", "finetune"])
        assert json.loads((run / PROCESS_FILE).read_text())["pid"] == child.pid
        assert process_alive(child.pid) is (True if sys.platform != "win32" else None)
        [found] = find_unfinished_runs()
        assert found.pid == child.pid
        assert "still training" in found.describe()
    finally:
        child.kill()
        child.wait()
    assert process_alive(child.pid) is False
    assert find_unfinished_runs()[0].pid is None


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_live_process_that_is_not_a_fine_tune_does_not_count() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_alive(child.pid) is False
    finally:
        child.kill()
        child.wait()


def test_new_run_folders_never_reuse_a_name() -> None:
    first = new_run_dir()
    first.mkdir(parents=True)
    second = new_run_dir()
    assert second != first
    assert second.parent == first.parent == runs_root()


def test_data_choices_become_data_specs(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    coco = tmp_path / "captions.json"
    coco.write_text("{}")
    assert DataChoice("folder", photos).spec() == f"folder={photos}"
    assert (
        DataChoice("folder", tmp_path / "nope").problem() == f"{tmp_path / 'nope'} is not a folder"
    )
    assert DataChoice("coco", coco).problem() == "choose the folder its images are in"
    assert DataChoice("coco", coco, photos).problem() is None
    assert DataChoice("coco", coco, photos).spec() == f"coco={coco},images={photos}"
    assert DataChoice("library", photos).spec() == f"library={photos}"
    assert DataChoice("library").spec().startswith("library=")


def test_recipe_choices_become_arguments(tmp_path: Path) -> None:
    assert RecipeChoice("paper").args() == ["--recipe", "paper"]
    custom = RecipeChoice(
        "custom", teacher_steps=40, teacher_lr=3e-4, batch_size=8, held_out=0.25, regions="gt"
    )
    assert custom.args() == [
        "--recipe", "quick", "--set", "teacher.lr=0.0003", "--set", "teacher.batch_size=8",
        "--set", "student.batch_size=8", "--teacher-steps", "40", "--held-out", "0.25",
        "--regions", "gt",
    ]  # fmt: skip
    binding = RecipeChoice("custom", student_steps=600, trainable="all", hard_negatives=True)
    assert binding.args() == [
        "--recipe", "quick", "--set", "student.trainable=all", "--set", "student.w_neg=1",
        "--student-steps", "600",
    ]  # fmt: skip
    command = train_command(["folder=/p"], "test-tiny", tmp_path / "run", RecipeChoice())
    assert command[command.index("finetune") :] == [
        "finetune", "--events", "jsonl", "--out", str(tmp_path / "run"), "--data", "folder=/p",
        "--model", "test-tiny", "--recipe", "quick",
    ]  # fmt: skip


def test_the_values_shown_are_the_training_packages() -> None:
    from dclip_core.finetune.run_folder import STAGES as CORE_STAGES
    from dclip_core.train.recipes import RECIPES

    assert STAGES == CORE_STAGES
    for name, values in RECIPE_VALUES.items():
        recipe = RECIPES[name]
        for key, value in values.items():
            section, _, field = key.rpartition(".")
            holder = getattr(recipe, section) if section else recipe
            assert getattr(holder, field) == value, (name, key)


def test_the_check_report_reads_a_refusal_and_a_usable_check() -> None:
    refused = read_check(
        [
            {
                "event": "datacheck",
                "photos": 6,
                "captioned": 0,
                "lines": ["a", "b", "6 without"],
                "refused": "nothing to train on",
            },
            {"event": "error", "message": "nothing to train on"},
        ]
    )
    assert not refused.usable
    assert refused.refused == "nothing to train on"
    assert refused.problems == ["6 without"]
    usable = read_check(
        [{"event": "datacheck", "photos": 24, "captioned": 24, "trainable": 24, "captions": 72,
          "train": 19, "held_out": 5, "samples": [["/p/a.png", "a red circle"]],
          "warnings": ["small"], "lines": ["x", "y", "sample: a", "warning: small"]}]
    )  # fmt: skip
    assert usable.usable
    assert usable.problems == []
    assert usable.warnings == ["small"]
    assert usable.split_line() == "19 to train on, 5 held out to measure the result on"
    assert read_check([], "dclip: error: boom").refused == "dclip: error: boom"


def test_the_check_report_reads_the_estimate_and_an_estimate_that_failed() -> None:
    check = {"event": "datacheck", "photos": 24, "trainable": 24, "lines": [], "refused": None}
    estimate = {"event": "estimate", "text": "about 10 s on CPU (2 cores)"}
    measured = read_check([check, estimate])
    assert measured.usable
    assert measured.estimate == "about 10 s on CPU (2 cores)"
    failed = read_check([check, {"event": "error", "message": "out of memory"}])
    assert failed.usable  # the data is fine; only the time is not known yet
    assert failed.estimate is None
    assert failed.estimate_error == "out of memory"


def test_the_model_switch_answer_reads_as_a_sentence() -> None:
    answer = {
        "switched": True,
        "active": {"name": "mine", "fingerprint": "f", "bundle": "/runs/r1/bundle"},
        "previous": {"name": "test-tiny", "fingerprint": "g", "bundle": "/b"},
        "embedded": 24,
    }
    progress = {"event": "progress", "phase": "embedding", "done": 3, "total": 24, "eta_s": 200}
    events = [
        parse_event(json.dumps(progress)),
        parse_event(json.dumps({"event": "result", **answer})),
    ]
    result = ModelSwitchResult.from_events(events)
    assert result.active_bundle == Path("/runs/r1/bundle")
    assert result.sentence("Searching with") == (
        "Searching with mine (24 photos embedded); Roll back returns to test-tiny"
    )
    with pytest.raises(ValueError, match="no result"):
        ModelSwitchResult.from_events(events[:1])


def test_switch_progress_lines_read_as_a_count_and_the_time_left() -> None:
    line = {"event": "progress", "phase": "embedding", "done": 312, "total": 1200, "eta_s": 130}
    progress = SwitchProgress.from_event(parse_event(json.dumps(line)))
    assert progress == SwitchProgress(312, 1200, 130.0)
    assert progress.sentence() == "312 of 1,200 photos, about 2 min left"
    assert SwitchProgress(10, 20, 12.0).sentence() == "10 of 20 photos, less than a minute left"
    assert SwitchProgress(20, 20, 0.0).sentence() == "20 of 20 photos"
    assert SwitchProgress.from_event(parse_event('{"event": "result", "switched": true}')) is None
    assert SwitchProgress.from_event(parse_event("dclip: warning: not JSON")) is None


def test_another_held_out_share_is_counted_as_the_split_counts_it() -> None:
    check = CheckReport(photos=24, captioned=24, trainable=24, train=19, held_out=5)
    assert check.split_at(0.2) == (19, 5)
    assert check.split_at(0.5) == (12, 12)
    assert check.split_at(0.05) == (22, 2)  # never fewer than 2 held out
    assert CheckReport(train=1, held_out=0).split_at(0.5) == (0, 1)  # never more than there are
