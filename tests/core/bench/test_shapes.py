"""``dclip bench shapes --quick``: the whole pipeline runs (not which method wins)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from dclip_core.bench.shapes import METHODS, format_pointing, format_table
from dclip_core.cli import main
from dclip_core.models.teacher import load_teacher


@pytest.mark.slow
def test_quick_benchmark_trains_every_method_and_scores_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "shapes", "--quick", "--json", "--dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert set(result["methods"]) == set(METHODS)
    assert result["seeds"] == 1
    for summary in [result["base"], *result["methods"].values()]:
        assert set(summary) >= {"t2i_r1", "i2t_r10", "hard_negative_accuracy", "zero_shot_top1"}
        for stats in summary.values():
            assert 0.0 <= stats["mean"] <= 1.0
            assert len(stats["values"]) == 1

    # The teacher diagnostics and the pointing game were measured for every teacher.
    for teacher in ("phrases", "tokens", "regions", "grounded"):
        (diagnostic,) = result["teachers"][teacher]
        assert 0.0 <= diagnostic["teacher_hard_negative_accuracy"] <= 1.0
        assert -1.0 <= diagnostic["target_wrong_caption"] <= 1.0
        assert 0.0 <= diagnostic["pointing"] <= 1.0
    assert result["pointing_baselines"]["cases"] > 0
    assert 0.0 < result["pointing_baselines"]["random"] < 1.0

    # Every method trained a student of the same base; the plain one learnt something else.
    runs = next((tmp_path / "runs").iterdir())
    students = {m: load_file(str(runs / m / "student.safetensors")) for m in METHODS}
    key = "visual.attnpool.c_proj.weight"  # the conv tower's output projection (attn-proj)
    assert not students["plain"][key].equal(students["dclip-phrases"][key])
    assert not students["dclip-phrases"][key].equal(students["dclip-tokens"][key])
    assert not students["dclip-phrases"][key].equal(students["dclip-regions"][key])
    assert not students["dclip-phrases"][key].equal(students["dclip-grounded"][key])
    for teacher in ("phrases", "tokens", "regions", "grounded"):
        assert (runs / f"teacher-{teacher}" / "teacher.safetensors").is_file()
    loaded = load_teacher(runs / "teacher-regions" / "teacher.safetensors")
    assert loaded.teacher.config.target == "regions"
    grounded = load_teacher(runs / "teacher-grounded" / "teacher.safetensors")
    assert grounded.extra["span_features"] == "sentence"
    assert grounded.extra["grounding"] == "contrastive"

    table = format_table(result)
    assert table.splitlines()[0].startswith("| model |")
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:]] == ["base", *METHODS]
    assert "pretraining the base model" in captured.err


@pytest.mark.slow
def test_quick_benchmark_with_yolo_regions_trains_the_detector_and_uses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["bench", "shapes", "--quick", "--json", "--dir", str(tmp_path), "--detector", "yolo"]
    assert main(args) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["config"]["detector"] == "yolo"
    detector = result["detector"]
    assert detector["name"].startswith("shapes-yolo-")
    assert 0.0 <= detector["box_recall_iou50"] <= 1.0
    assert "training the shapes detector (1 epochs" in captured.err
    # The teachers' regions were proposed by that detector (cached under its name), not the boxes.
    assert [p.name for p in (tmp_path / "regions").iterdir()] == [detector["name"]]
    assert set(result["methods"]) == set(METHODS)


@pytest.mark.slow
def test_methods_option_runs_only_those_fine_tunes_and_their_teachers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["bench", "shapes", "--quick", "--json", "--dir", str(tmp_path)]
    assert main([*args, "--methods", "plain,dclip-grounded"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["methods"]) == {"plain", "dclip-grounded"}
    assert set(result["teachers"]) == {"phrases", "grounded"}
    assert "| grounded |" in format_pointing(result)
    assert main([*args, "--methods", "dclip-nothing"]) != 0
    assert "unknown ['dclip-nothing']" in capsys.readouterr().err
