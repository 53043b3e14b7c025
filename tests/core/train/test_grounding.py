"""The grounded teacher (docs/adr/0017): span-box links from labels, and a run that trains it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dclip_core.models.spans import Span
from dclip_core.models.teacher import load_teacher
from dclip_core.train.events import EventSink
from dclip_core.train.losses import NO_LINK
from dclip_core.train.regions import RegionCache
from dclip_core.train.teacher_trainer import span_region_links, train_teacher
from tests.helpers.method_data import shapes_records, tiny_recipe


def _span(text: str) -> Span:
    return Span(text=text, start=1, end=2)


def test_a_span_links_to_the_one_box_whose_label_it_names() -> None:
    spans = [[_span("a small red circle"), _span("a blue star"), _span("the left")]]
    labels = [("blue star", "red circle", "green cross")]
    assert span_region_links(spans, labels, 4).tolist() == [[1, 0, NO_LINK, NO_LINK]]


def test_ambiguous_or_classless_boxes_link_nothing() -> None:
    spans = [[_span("a red circle")], [_span("a red circle")]]
    # two red circles: which one is meant is unknown; a detector's one class names nothing
    labels = [("red circle", "red circle"), ("shape", "shape")]
    assert span_region_links(spans, labels, 1).tolist() == [[NO_LINK], [NO_LINK]]


def test_a_grounded_teacher_trains_and_records_its_span_features(tmp_path: Path) -> None:
    records: list[Any] = shapes_records(tmp_path / "shapes", 16)
    regions = RegionCache("test-tiny", "gt", cache_dir=tmp_path / "regions")
    steps: list[dict[str, Any]] = []

    def listen(event: dict[str, Any]) -> None:
        if event["event"] == "step":
            steps.append(event)

    recipe = tiny_recipe(
        teacher={"span_mode": "phrases", "span_features": "sentence", "grounding": "linked"},
        data={"region_source": "gt", "val_fraction": 0.0},
    )
    run = train_teacher(
        records,
        model="test-tiny",
        regions=regions,
        run_dir=tmp_path / "run",
        recipe=recipe,
        events=EventSink("none", listeners=[listen]),
        max_steps=3,
    )
    assert run.output is not None
    # shapes captions name their objects, whose boxes carry the class: links exist
    assert {"contrastive", "grounding_contrastive", "grounding_linked"} <= set(steps[0])
    assert all(torch.isfinite(torch.tensor(s["loss"])) for s in steps)
    loaded = load_teacher(run.output)
    assert loaded.extra["span_features"] == "sentence"
    assert loaded.extra["grounding"] == "linked"
