"""``dclip finetune`` as a user and the wizard run it: bad data, kill -9 and --resume, and
``dclip models activate`` / ``rollback`` of the bundle it makes."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dclip_core.cli import main
from dclip_core.config import get_paths
from dclip_core.library import Library
from dclip_core.shapes.scenes import write_shapes_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]
# test-tiny, ground-truth regions, checkpoints every 2 steps: teacher 9 steps, student 6.
TINY = [
    "--model", "test-tiny", "--regions", "gt", "--no-explain", "--no-estimate",
    "--set", "precision=fp32", "--set", "checkpoint_every=2",
    "--set", "teacher.batch_size=8", "--set", "teacher.epochs=3", "--set", "teacher.lr=3e-3",
    "--set", "student.batch_size=8", "--set", "student.epochs=2", "--set", "student.lr=1e-4",
]  # fmt: skip


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scenes")
    write_shapes_dataset(folder, 24, seed=3, image_size=64)
    return folder


def _dclip(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "dclip_core", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _run_until(args: list[str], stage: str | None = None, step: int = 0) -> list[dict[str, Any]]:
    """Run ``dclip finetune ARGS --events jsonl``; kill -9 it at ``stage``'s step ``step``."""
    process = _dclip("finetune", *args, "--events", "jsonl")
    assert process.stdout is not None
    events = []
    for line in process.stdout:
        event = json.loads(line)
        events.append(event)
        if event["event"] == "step" and (event["stage"], event["step"]) == (stage, step):
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=600)
    if stage is None:
        assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    else:
        assert process.returncode == -signal.SIGKILL
    return events


def _stages(run: Path) -> list[str]:
    return list(json.loads((run / "finetune.json").read_text())["stages"])


@pytest.mark.slow
def test_kill_9_in_each_training_stage_then_resume_ends_like_an_uninterrupted_run(
    scenes: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole"
    _run_until(["--data", f"shapes={scenes}", "--out", str(whole), *TINY])

    killed = tmp_path / "killed"
    _run_until(["--data", f"shapes={scenes}", "--out", str(killed), *TINY], "teacher", 5)
    assert "teacher" not in _stages(killed)
    events = _run_until(["--resume", str(killed)], "student", 3)
    assert [e["step"] for e in events if e["event"] == "start"] == [4, 0]
    assert "teacher" in _stages(killed)
    assert "student" not in _stages(killed)
    events = _run_until(["--resume", str(killed)])
    assert next(e for e in events if e["event"] == "start")["step"] == 2
    assert events[-1]["event"] == "finished"

    want = json.loads((whole / "eval.json").read_text())
    got = json.loads((killed / "eval.json").read_text())
    assert (got["base"], got["student"]) == (want["base"], want["student"])
    assert events[-1]["verdict"] == want["verdict"]["text"]
    # every attempt's events are in the run's log
    log = [json.loads(line)["event"] for line in (killed / "events.jsonl").open()]
    assert log.count("resume") == 2


def _bad(tmp_path: Path, scenes: Path, kind: str) -> Path:
    folder = tmp_path / kind
    if kind == "missing":
        return folder
    folder.mkdir()
    for image in sorted(scenes.glob("*.png"))[:6]:
        shutil.copy(image, folder / image.name)
        if kind == "unreadable":
            (folder / image.name).write_bytes(b"\x89PNG cut short")
            (folder / image.name).with_suffix(".txt").write_text("a red circle")
    return folder


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("uncaptioned", "none of its 6 photos has a caption"),
        ("unreadable", "all 6 captioned photos are unreadable"),
        ("missing", "does not exist"),
    ],
)
def test_bad_data_is_one_line_and_leaves_no_run(
    scenes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, message: str
) -> None:
    folder = _bad(tmp_path, scenes, kind)
    out = tmp_path / "runs" / "run"
    code = main(["finetune", "--data", f"folder={folder}", "--out", str(out), *TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1
    assert message in err[0]
    assert not out.exists()
    assert not (out.parent.exists() and any(out.parent.iterdir()))


def test_check_only_writes_nothing(
    scenes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["finetune", "--check-only", "--data", f"shapes={scenes}", "--model", "test-tiny"])
    out = capsys.readouterr().out
    assert code == 0
    assert "24 found, 24 with a caption" in out
    assert "split: 19 to train on, 5 held out" in out


def test_check_only_with_estimate_measures_and_leaves_no_run(
    scenes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["finetune", "--check-only", "--estimate", "--events", "jsonl", *TINY]
    code = main([*args, "--data", f"shapes={scenes}", "--teacher-steps", "5"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert [e["event"] for e in events if e["event"] in ("datacheck", "estimate")] == [
        "datacheck",
        "estimate",
    ]
    estimate = events[-1]
    assert estimate["teacher_steps"] == 5
    assert estimate["teacher_s_per_step"] > 0
    assert estimate["student_s_per_step"] > 0
    assert "CPU" in estimate["device"] or "CUDA" in estimate["device"]
    assert not (get_paths().data_dir / "finetune").exists()


@pytest.mark.slow
def test_activate_then_rollback_without_re_embedding(
    scenes: Path,
    tmp_path: Path,
    tiny_bundle: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = tmp_path / "run"
    assert main(["finetune", "--data", f"shapes={scenes}", "--out", str(run), *TINY]) == 0
    photos = tmp_path / "photos"
    shutil.copytree(scenes, photos)
    assert main(["index", str(photos), "--model", str(tiny_bundle)]) == 0
    capsys.readouterr()

    # The app's child: JSON lines, and a stop once its stdin is closed (here: closed at once).
    activate_lines = ["models", "activate", str(run / "bundle"), "--events", "jsonl"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main([*activate_lines, "--stop-on-eof"]) == 130
    stopped = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert stopped[-1]["event"] == "result"
    assert stopped[-1]["switched"] is False
    assert stopped[-1]["active"]["name"] == "test-tiny"  # searches still use it
    assert main(activate_lines) == 0  # the same command again continues
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    progress, result = lines[:-1], lines[-1]
    assert progress
    assert all(p["event"] == "progress" for p in progress)
    assert [p["done"] for p in progress] == sorted(p["done"] for p in progress)
    assert progress[-1]["done"] == progress[-1]["total"] == 24
    assert result["event"] == "result"
    assert result["switched"] is True
    assert stopped[-1]["embedded"] + result["embedded"] == 24
    assert result["active"]["bundle"] == str(run / "bundle")
    assert result["previous"]["name"] == "test-tiny"

    assert main(["models", "activate", str(run / "bundle"), "--json"]) == 0
    switched = json.loads(capsys.readouterr().out)
    assert switched["embedded"] == 0  # already the active model
    assert switched["active"]["bundle"] == str(run / "bundle")
    with Library.open() as library:
        assert library.status().active_model.bundle_path == run / "bundle"  # type: ignore[union-attr]

    assert main(["models", "rollback", "--json"]) == 0
    back = json.loads(capsys.readouterr().out)
    assert back["embedded"] == 0  # its vectors were still stored
    assert back["active"]["name"] == "test-tiny"
    assert main(["models", "rollback"]) == 0  # and forward again, still without embedding
    assert "nothing embedded" in capsys.readouterr().out
    with Library.open() as library:
        assert library.status().active_model.bundle_path == run / "bundle"  # type: ignore[union-attr]
