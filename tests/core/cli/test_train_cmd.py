"""The method from the command line: train-teacher → distill (→ bundle) → eval, and resume."""

from __future__ import annotations

import json
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
