"""``dclip bench search`` reports latency against numpy and the fixed-length text tower, and a
cold start broken down step by step against the baseline configuration."""

from __future__ import annotations

import json
from pathlib import Path

import onnxruntime as ort
import pytest

from dclip_core.cli import main


@pytest.mark.slow
def test_bench_search_compares_against_both_baselines(
    capsys: pytest.CaptureFixture[str], dclip_home: Path
) -> None:
    code = main(
        [
            "bench",
            "search",
            "--model",
            "test-tiny",
            "--sizes",
            "300",
            "--queries",
            "3",
            "--cold-size",
            "300",
            "--cold-runs",
            "1",
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    (row,) = report["sizes"]
    assert row["n"] == 300
    assert row["recall_at_10"] >= 0.9
    assert row["search_p50_ms"] > row["ann_p50_ms"] > 0
    baseline = row["baseline"]
    assert baseline["fixed_text_encode_p50_ms"] > 0
    assert baseline["text_encode_p50_ms"] > 0
    assert report["cold_start_size"] == 300
    assert report["cold_start_s"] > 0
    for config in ("current", "baseline"):
        steps = report["cold_start_breakdown_s"][config]
        assert "text session open + first query" in steps
        parts = sum(seconds for step, seconds in steps.items() if step != "total")
        assert parts == pytest.approx(steps["total"], rel=1e-6)
    # The baseline really is the old fixed-length graph; the benchmarked bundle is dynamic.
    bench = dclip_home / "cache" / "bench" / "search"
    (fixed,) = bench.glob("*-fixed-length")
    old = ort.InferenceSession(str(fixed / "text.onnx"), providers=["CPUExecutionProvider"])
    new = ort.InferenceSession(
        str(dclip_home / "data" / "bundles" / "test-tiny" / "text.onnx"),
        providers=["CPUExecutionProvider"],
    )
    assert old.get_inputs()[0].shape == ["batch", 77]
    assert new.get_inputs()[0].shape == ["batch", "sequence"]
