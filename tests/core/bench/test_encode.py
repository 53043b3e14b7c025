"""``dclip bench encode`` measures every engine and both cold-start paths in one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dclip_core.cli import main


@pytest.mark.slow
def test_bench_encode_reports_all_engines_and_cold_start(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path
) -> None:
    code = main(
        [
            "bench",
            "encode",
            "--bundle",
            str(tiny_bundle),
            "--images",
            "4",
            "--batch-size",
            "3",
            "--threads",
            "1",
            "--repeats",
            "1",
            "--cold-repeats",
            "1",
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert set(report["results"]) == {"torch", "onnx_fp32", "onnx_int8"}
    for row in report["results"].values():
        assert row["images_per_s"] > 0
        assert row["text_query_ms"] > 0
    assert set(report["cold_start_s"]) == {"runtime", "open_clip"}
    assert all(seconds > 0 for seconds in report["cold_start_s"].values())
    assert report["threads"] == 1
    assert report["int8_quality"]["text_mean_cosine"] > 0.9
    assert report["command"].startswith(f"dclip bench encode --bundle {tiny_bundle} --images 4")


def test_bench_encode_prints_a_table_against_torch(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path
) -> None:
    code = main(
        [
            "bench",
            "encode",
            "--bundle",
            str(tiny_bundle),
            "--images",
            "2",
            "--repeats",
            "1",
            "--cold-repeats",
            "0",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("encode: test-tiny, 2 images")
    assert any(line.startswith("open_clip torch") for line in lines)
    assert any(line.startswith("ONNX int8") and "x, " in line for line in lines)
    assert "int8 vs fp32 mean cosine" in out
    assert "has random weights" in err
