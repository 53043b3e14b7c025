"""The annotation benchmark at a tiny size: every row measured, the table printed, nothing left."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from dclip_app.bench_annotate import bench_annotate, box_rect, table

pytestmark = pytest.mark.gui


def test_boxes_lie_on_a_grid_inside_the_photo_and_the_first_is_the_same_for_any_count() -> None:
    rects = [box_rect(i, (6000, 4000), 200) for i in range(200)]
    assert all(x >= 0 and y >= 0 and x + w <= 6000 and y + h <= 4000 for x, y, w, h in rects)
    assert len(set(rects)) == 200
    assert box_rect(0, (6000, 4000), 200) == rects[0]


def test_tiny_benchmark_measures_every_row(qapp: QApplication, tmp_path: Path) -> None:
    env = {key: os.environ.get(key) for key in ("DCLIP_HOME", "QT_QPA_PLATFORM")}
    before = set(Path(tempfile.gettempdir()).glob("dclip-bench-annotate-*"))

    # The big photo is larger than any preview (a 2560-pixel screen at most), so zooming in on it
    # decodes its full size.
    result = bench_annotate(repeats=3, opens=1, boxes=12, big=(3000, 2000), small=(120, 80))

    assert {key: os.environ.get(key) for key in env} == env  # the environment is restored
    assert set(Path(tempfile.gettempdir()).glob("dclip-bench-annotate-*")) == before
    opens = result["open"]
    assert isinstance(opens, dict)
    assert list(opens) == ["120×80, 0 boxes (baseline)", "3000×2000, 1 box", "3000×2000, 12 boxes"]
    for what in ("repaint", "edit", "select", "hover"):
        rows = result[what]
        assert isinstance(rows, dict)
        assert list(rows) == ["1 box (baseline)", "12 boxes"]
        assert all(0 < row["median_ms"] <= row["max_ms"] for row in rows.values())
    zoom = result["zoom in"]
    assert isinstance(zoom, dict)
    assert list(zoom) == [
        "pan, preview only (baseline)",
        "pan, full-size pixels",
        "re-crop after a pan",
        "re-crop after a pan, least zoom with full-size pixels",
        "full-size decode until shown",
    ]
    assert all(0 < row["median_ms"] <= row["max_ms"] for row in zoom.values())
    text = table(result, "python -m dclip_app.bench annotate")
    assert "`python -m dclip_app.bench annotate`" in text
    assert text.count("\n| ") == 16 + 1  # header and sixteen rows
    json.dumps(result)
