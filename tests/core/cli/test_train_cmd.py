"""The method from the command line: train-teacher → distill (→ bundle) → eval, and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dclip_core.cli import main
from dclip_core.runtime.bundle import load_manifest
from dclip_core.shapes.scenes import write_shapes_dataset


def _events(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_teacher_distill_eval_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "photos"
    write_shapes_dataset(data, 12, seed=5, image_size=64)
    common = ["--data", f"folder={data}", "--recipe", "quick", "--regions", "gt"]
    common += ["--batch-size", "4", "--events", "jsonl", "--set", "precision=fp32"]
    teacher_run = tmp_path / "teacher-run"
    code = main(
        [
            "train-teacher",
            *common,
            "--model",
            "test-tiny",
            "--out",
            str(teacher_run),
            "--epochs",
            "1",
            "--span-mode",
            "phrases",
            "--lr",
            "1e-3",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    events = _events(out.out)
    assert events[-1]["event"] == "done"
    assert any(e["event"] == "regions" for e in events)
    assert "random weights" in out.err  # test-tiny is announced as meaningless
    teacher = teacher_run / "teacher.safetensors"

    student_run = tmp_path / "student-run"
    bundle = tmp_path / "student-bundle"
    code = main(
        [
            "distill",
            *common,
            "--teacher",
            str(teacher),
            "--out",
            str(student_run),
            "--epochs",
            "1",
            "--trainable",
            "vision",
            "--bundle",
            str(bundle),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert [e["event"] for e in _events(out.out)][-2:] == ["done", "bundle"]
    manifest = load_manifest(bundle)
    assert manifest.kind == "dclip-student"
    assert manifest.explain is not None
    assert manifest.explain["span_mode"] == "phrases"

    report_dir = tmp_path / "report"
    code = main(
        [
            "eval",
            "--model",
            "test-tiny",
            "--model",
            str(student_run / "student.safetensors"),
            "--model",
            str(bundle),
            "--retrieval",
            f"folder={data}",
            "--out",
            str(report_dir),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    report = json.loads((report_dir / "report.json").read_text())
    assert report["models"][0]["name"] == "test-tiny"
    assert len(report["comparisons"]) == 2
    torch_student, onnx_student = report["models"][1:]
    assert torch_student["retrieval"]["text_to_image"]["mrr"] == pytest.approx(
        onnx_student["retrieval"]["text_to_image"]["mrr"], abs=1e-6
    )
    assert "| T→I R@1" in out.out


def test_usage_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train-teacher", "--data", f"folder={tmp_path}", "--model", "test-tiny"]) == 1
    assert "give either --out RUN_DIR" in capsys.readouterr().err
    assert main(["train-teacher", "--resume", str(tmp_path), "--data", f"folder={tmp_path}"]) == 1
    assert "is not a training run folder" in capsys.readouterr().err
    assert main(["train-teacher", "--out", str(tmp_path / "r"), "--data", "folder"]) == 1
    assert "expected FORMAT=PATH" in capsys.readouterr().err
    assert main(["eval", "--model", "test-tiny"]) == 1
    assert "nothing to evaluate" in capsys.readouterr().err


def _stop_at_first_step(command: list[str], signum: signal.Signals, home: Path) -> int:
    """Run a training command in a child process, send ``signum`` at its first step, return its
    exit code once it has saved and stopped (the quick recipe's few steps leave time for it)."""
    env = {**os.environ, "DCLIP_HOME": str(home)}
    child = subprocess.Popen(
        [sys.executable, "-m", "dclip_core", *command, "--events", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    events = []
    for line in child.stdout:
        if line.startswith("{"):
            events.append(json.loads(line)["event"])
            if events[-1] == "step" and events.count("step") == 1:
                child.send_signal(signum)  # once: a second one could land after the handler
    code = child.wait(timeout=120)
    assert "stopped" in events, events
    assert "done" not in events
    return code


@pytest.mark.slow
def test_a_stopped_run_exits_with_the_signals_code_in_both_commands(tmp_path: Path) -> None:
    data = tmp_path / "photos"
    write_shapes_dataset(data, 12, seed=5, image_size=64)
    common = ["--data", f"folder={data}", "--recipe", "quick", "--regions", "gt"]
    common += ["--batch-size", "4", "--set", "precision=fp32"]
    teacher_args = ["train-teacher", *common, "--model", "test-tiny"]
    stopped_teacher = [*teacher_args, "--out", str(tmp_path / "stopped"), "--max-steps", "500"]
    assert _stop_at_first_step(stopped_teacher, signal.SIGTERM, tmp_path / "home") == 143

    teacher_run = tmp_path / "teacher"
    assert main([*teacher_args, "--out", str(teacher_run), "--max-steps", "2"]) == 0
    distill = ["distill", *common, "--teacher", str(teacher_run / "teacher.safetensors")]
    distill += ["--out", str(tmp_path / "student"), "--max-steps", "500"]
    assert _stop_at_first_step(distill, signal.SIGINT, tmp_path / "home") == 130


def test_every_stop_exits_non_zero() -> None:
    from dclip_core.cli.train_cmd import stopped_exit_code

    assert stopped_exit_code("SIGINT") == 130
    assert stopped_exit_code("SIGTERM") == 143
    assert stopped_exit_code("cancel") == 130  # a stop is never a success
    assert stopped_exit_code(None) == 130
