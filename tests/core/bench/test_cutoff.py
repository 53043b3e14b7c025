"""``dclip bench cutoff``: the relevance cutoff marks what a query is about, on the shapes world."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dclip_core.bench.cutoff import measure_cutoff, score_marked, summary
from dclip_core.cli import main
from dclip_core.shapes.scenes import write_shapes_dataset
from tests.helpers.shapes_demo import shared_demo


def test_score_marked_counts_an_empty_set_as_zero() -> None:
    truth = frozenset({"a.png", "b.png"})
    assert score_marked(set(), truth).f1 == 0.0
    both = score_marked({"a.png", "c.png"}, truth)
    assert (both.marked, both.precision, both.recall, both.f1) == (2, 0.5, 0.5, 0.5)


def test_a_random_model_marks_few(tiny_bundle: Path, tmp_path: Path) -> None:
    # The best match is always marked, so a random model marks its top few: 4.6 of 60 photos
    # here, 5.7 of the demo's 300 (docs/adr/0015-relevance-cutoff.md: a model-level gate is the
    # open part). The bound keeps that from growing unnoticed.
    photos = tmp_path / "shapes"
    write_shapes_dataset(photos, 60, seed=18)
    rows = measure_cutoff(tiny_bundle, photos, "grid", 3.0)
    marked = np.array([row.new.marked for row in rows])
    assert marked.mean() / 60 < 0.1
    assert np.mean([row.new.f1 for row in rows]) < 0.3


@pytest.mark.slow
def test_queries_whose_top_results_are_right_mark_them_relevant(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = shared_demo(tmp_path_factory)
    rows = measure_cutoff(demo.bundle, demo.photos, "grid", 3.0)
    red_circle = next(row for row in rows if row.query == "red circle")
    assert red_circle.top10_right >= 0.8
    assert red_circle.new.marked >= 5
    assert red_circle.new.precision >= 0.8
    totals = summary(rows)
    assert totals["target_met"], totals
    assert totals["new"]["f1"] > totals["current"]["f1"]
    args = ["bench", "cutoff", "--bundle", str(demo.bundle), "--photos", str(demo.photos)]
    assert main(args) == 0
    assert "target (mean F1 >= 0.8, no good query marking nothing): met" in capsys.readouterr().out
