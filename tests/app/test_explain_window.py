"""The "Why this match?" window: colours that follow the core's matrices, exact numbers, export,
bad input, cancel, and the way in from a search result."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot

from dclip_app.explain_runner import ExplainRequest, ExplainResult, ExplainRunner
from dclip_app.explain_window import ExplainWindow
from dclip_app.main_window import MainWindow
from dclip_core.explain import COLOUR_SCALES, AttentionView, Explanation
from dclip_core.explain.overlay import ALPHA_GAMMA, colour_of
from tests.app.conftest import wait_for_indexing
from tests.helpers.images import photo

pytestmark = pytest.mark.gui

LAYERS, HEADS = 2, 4


@pytest.fixture(scope="module")
def explain_bundle(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_bundle`` with ``explain/``: a random 2-layer, 4-head teacher (no detector)."""
    import torch

    from dclip_core.export.explain import add_explain
    from dclip_core.models.teacher import CrossModalTeacher, save_teacher

    root = tmp_path_factory.mktemp("app-explain-bundle")
    target = root / "bundle"
    shutil.copytree(tiny_bundle, target)
    torch.manual_seed(5)
    teacher = CrossModalTeacher(32, heads=HEADS, layers=LAYERS)
    save_teacher(root / "teacher.safetensors", teacher, base_model="test-tiny", extra={"steps": 5})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DCLIP_HOME", str(root / "home"))
        add_explain(target, root / "teacher.safetensors")
    return target


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    path = tmp_path / "coffee.jpg"
    photo("coffee", (300, 200)).save(path, quality=92)
    return path


def open_window(qtbot: QtBot, bundle: Path) -> ExplainWindow:
    runner = ExplainRunner(bundle, provider="cpu", threads=1)
    window = ExplainWindow(runner)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def teacher_window(qtbot: QtBot, explain_bundle: Path) -> Iterator[ExplainWindow]:
    window = open_window(qtbot, explain_bundle)
    yield window
    window.runner.shutdown()


def explain(qtbot: QtBot, window: ExplainWindow, photo_path: Path, query: str) -> Explanation:
    with qtbot.waitSignal(window.runner.explained, timeout=60_000) as blocker:
        window.explain(photo_path, query)
    result = blocker.args[0]
    assert isinstance(result, ExplainResult)
    return result.explanation


def expected_colour(weights: np.ndarray, index: int) -> tuple[tuple[int, int, int], int]:
    values = COLOUR_SCALES["span"](weights)
    value = float(values[index])
    return colour_of(value), round(255 * 0.6 * value**ALPHA_GAMMA)


def test_selecting_a_span_colours_every_region_by_the_core_matrix(
    qtbot: QtBot, teacher_window: ExplainWindow, scene: Path
) -> None:
    explanation = explain(qtbot, teacher_window, scene, "a red cup on a wooden table")
    assert (explanation.layers, explanation.heads) == (LAYERS, HEADS)
    assert [c.text() for c in teacher_window.chips.chips][:3] == ["a", "red", "cup"]
    assert "teacher" in teacher_window.method_label.text()
    # A random teacher is labelled as such, never passed off as evidence.
    assert teacher_window.caveat_label.text().startswith("Not meaningful yet")

    cup = next(i for i, s in enumerate(explanation.spans) if s.text == "cup")
    qtbot.mouseClick(teacher_window.chips.chips[cup], Qt.MouseButton.LeftButton)
    assert teacher_window.span == cup
    assert teacher_window.chips.chips[cup].isChecked()
    weights = explanation.span_weights(cup, AttentionView(layer=-1, head=None))
    boxes = teacher_window.canvas.boxes
    assert len(boxes) == len(explanation.regions)
    for box in boxes:
        colour, alpha = expected_colour(weights, box.index)
        assert rgb(box.colour) == colour
        if box.index == 0:
            assert box.fill_colour().alpha() == 0  # the whole photo: outline only
        else:
            assert rgba(box.fill_colour()) == (*colour, alpha)
        assert f"{weights[box.index]:.4f}" in box.toolTip()  # exact numbers on hover
        assert f"{weights[box.index]:.2f}" in box.tag.text
    assert teacher_window.legend.top == pytest.approx(float(weights.max()))
    assert teacher_window.legend.caption == "“cup” → each region"

    # Hovering another chip previews it; leaving goes back to the selected span.
    table = next(i for i, s in enumerate(explanation.spans) if s.text == "table")
    teacher_window.chips.span_hovered.emit(table)
    hovered = explanation.span_weights(table)
    assert rgb(boxes[1].colour) == expected_colour(hovered, 1)[0]
    teacher_window.chips.span_hovered.emit(-1)
    assert rgb(boxes[1].colour) == expected_colour(weights, 1)[0]


def test_selecting_a_region_shades_the_chips_by_region_to_text(
    qtbot: QtBot, teacher_window: ExplainWindow, scene: Path
) -> None:
    explanation = explain(qtbot, teacher_window, scene, "a red cup on a wooden table")
    region = 2
    teacher_window.canvas.box_clicked.emit(region)
    assert teacher_window.region == region
    assert teacher_window.span is None
    assert teacher_window.canvas.boxes[region].selected
    row = explanation.weights(AttentionView("region_to_text"))[region]
    values = COLOUR_SCALES["span"](row)
    for chip in teacher_window.chips.chips:
        assert chip.background == colour_of(float(values[chip.index]))
        assert f"{row[chip.index]:.4f}" in chip.toolTip()
    assert f"{row[0]:.3f}" in teacher_window.info_label.text()
    # Clicking the background clears the selection; chips are plain again.
    teacher_window.canvas.background_clicked.emit()
    assert all(chip.background is None for chip in teacher_window.chips.chips)


def test_layer_and_head_recolour_without_running_a_model(
    qtbot: QtBot, teacher_window: ExplainWindow, scene: Path
) -> None:
    explanation = explain(qtbot, teacher_window, scene, "a red cup")
    explainer = teacher_window.runner.explainer
    assert explainer is not None
    runs = dict(explainer.model_runs)
    controls = teacher_window.controls
    assert controls.head_combo.currentText() == "mean of heads"
    assert controls.layer_combo.currentText().endswith("(last)")

    controls.layer_combo.setCurrentIndex(0)
    controls.head_combo.setCurrentIndex(3)  # head 3 of 4
    assert controls.view == AttentionView(layer=0, head=2)
    span = teacher_window.span
    assert span is not None
    weights = explanation.span_weights(span, AttentionView(layer=0, head=2))
    for box in teacher_window.canvas.boxes:
        assert rgb(box.colour) == expected_colour(weights, box.index)[0]

    controls.layer_combo.setCurrentIndex(controls.layer_combo.count() - 1)  # rollout
    assert controls.view == AttentionView(layer="rollout", head=None)
    assert not controls.head_combo.isEnabled()
    rolled = explanation.span_weights(span, AttentionView(layer="rollout"))
    assert rgb(teacher_window.canvas.boxes[1].colour) == expected_colour(rolled, 1)[0]
    assert dict(explainer.model_runs) == runs


def test_export_writes_the_overlay_png_and_json_that_round_trips(
    qtbot: QtBot, teacher_window: ExplainWindow, scene: Path, tmp_path: Path
) -> None:
    explanation = explain(qtbot, teacher_window, scene, "a red cup")
    teacher_window.controls.head_combo.setCurrentIndex(2)
    teacher_window.export_png(tmp_path / "overlay.png")
    teacher_window.export_json(tmp_path / "overlay.json")

    image = QImage(str(tmp_path / "overlay.png"))
    assert not image.isNull()
    assert image.width() >= teacher_window.canvas.photo_pixmap.width()
    assert image.height() > teacher_window.canvas.photo_pixmap.height()  # the footer

    data = json.loads((tmp_path / "overlay.json").read_text("utf-8"))
    view = AttentionView(layer=-1, head=1)
    assert data["view"]["head"] == 1
    np.testing.assert_allclose(data["weights"], explanation.weights(view), atol=1e-6)
    np.testing.assert_allclose(data["text_to_region"], explanation.text_to_region, atol=1e-6)
    np.testing.assert_allclose(data["region_to_text"], explanation.region_to_text, atol=1e-6)
    assert [s["text"] for s in data["spans"]] == [s.text for s in explanation.spans]
    assert len(data["regions"]) == len(explanation.regions)
    shown = data["shown"]
    assert shown["span"] == teacher_window.span
    for entry, box in zip(shown["region_colours"], teacher_window.canvas.boxes, strict=True):
        assert tuple(entry["rgb"]) == rgb(box.colour)
    assert data["meaningful"] is False


def test_a_bundle_without_explain_says_so_and_shows_similarity(
    qtbot: QtBot, tiny_bundle: Path, scene: Path
) -> None:
    window = open_window(qtbot, tiny_bundle)
    explanation = explain(qtbot, window, scene, "a red cup on a wooden table")
    assert explanation.method == "similarity"
    assert "Showing similarity, the training-free method" in window.method_label.text()
    assert "no explain/ part" in window.caveat_label.text()
    assert "random weights" in window.caveat_label.text()
    assert [c.text() for c in window.chips.chips] == ["a red cup", "a wooden table"]
    assert not window.controls.layer_combo.isEnabled()
    model = window.controls.method_combo.model()
    teacher_row = window.controls.method_combo.findData("teacher")
    teacher_item = model.item(teacher_row)  # type: ignore[attr-defined]
    assert not teacher_item.isEnabled()
    assert "no explain/ part" in teacher_item.toolTip()

    # Asking for the teacher anyway (the menu item is greyed out) gives one clear line.
    with qtbot.waitSignal(window.runner.failed, timeout=30_000):
        window.runner.request(ExplainRequest(scene, "a cup", "teacher"))
    assert "no explain/ part" in window.message_label.text()
    window.runner.shutdown()


def test_bad_photo_and_empty_query_give_clear_messages(
    qtbot: QtBot, tiny_bundle: Path, scene: Path, tmp_path: Path
) -> None:
    window = open_window(qtbot, tiny_bundle)
    broken = tmp_path / "broken.jpg"
    broken.write_text("not a photo")
    with qtbot.waitSignal(window.runner.failed, timeout=30_000):
        window.explain(broken, "a cup")
    assert "broken.jpg" in window.message_label.text()
    assert not window.canvas.boxes
    assert not window.chips.chips
    assert not window.export_png_action.isEnabled()

    with qtbot.assertNotEmitted(window.runner.started):
        window.explain(scene, "   ")
    assert "query is empty" in window.message_label.text()

    missing = tmp_path / "gone.jpg"
    with qtbot.waitSignal(window.runner.failed, timeout=30_000):
        window.explain(missing, "a cup")
    assert "gone.jpg" in window.message_label.text()
    window.runner.shutdown()


def test_a_second_request_cancels_the_first(
    qtbot: QtBot, teacher_window: ExplainWindow, scene: Path
) -> None:
    explain(qtbot, teacher_window, scene, "a cup")  # opens the bundle
    explainer = teacher_window.runner.explainer
    assert explainer is not None
    real_explain = explainer.explain
    first_running = threading.Event()

    def slow_explain(photo_path: Path, query: str, **kwargs: object) -> Explanation:
        cancel = kwargs["cancel"]
        if query == "slow":
            first_running.set()
            while not cancel.cancelled:  # type: ignore[attr-defined]  # until the second comes
                threading.Event().wait(0.01)
        return real_explain(photo_path, query, **kwargs)  # type: ignore[arg-type]

    explainer.explain = slow_explain  # type: ignore[method-assign, assignment]
    delivered: list[str] = []
    teacher_window.runner.explained.connect(lambda r: delivered.append(r.explanation.query))
    with qtbot.waitSignal(teacher_window.runner.cancelled, timeout=30_000):
        teacher_window.explain(scene, "slow")
        assert first_running.wait(10)
        with qtbot.waitSignal(teacher_window.runner.explained, timeout=30_000):
            teacher_window.explain(scene, "a wooden table")
    qtbot.waitUntil(teacher_window.runner.pool.is_idle, timeout=10_000)
    assert delivered == ["a wooden table"]
    assert teacher_window.explanation is not None
    assert teacher_window.explanation.query == "a wooden table"


def test_why_this_match_opens_from_a_search_result(
    qtbot: QtBot, window: MainWindow, photo_library: Path
) -> None:
    with qtbot.waitSignal(window.service.index_finished, timeout=60_000):
        window.sidebar.add_requested.emit([photo_library])
    wait_for_indexing(qtbot, window)
    with qtbot.waitSignal(window.service.search_done, timeout=15_000):
        qtbot.keyClicks(window.search_bar.text_field, "an orange circle, 2:sunset")
    # The grid lays its columns out once shown (a model reset, which drops the current cell).
    qtbot.wait(300)
    window.results.view.setFocus()
    window.results.view.select_first()
    first = window.results.model.hits[0]
    assert window.detail.explain_button.isEnabled()

    window.menu_actions.explain.trigger()  # Ctrl+E, the Search menu
    explainer_window = window.explain_window
    assert explainer_window is not None
    qtbot.waitUntil(lambda: explainer_window.explanation is not None, timeout=60_000)
    assert explainer_window.isVisible()
    assert explainer_window.query_field.text() == "an orange circle, sunset"
    assert explainer_window.photo == Path(first.path)
    assert Path(first.path).name in explainer_window.windowTitle()
    assert [c.text() for c in explainer_window.chips.chips] == ["an orange circle", "sunset"]

    # The detail pane's button explains the same way.
    with qtbot.waitSignal(explainer_window.runner.explained, timeout=20_000):
        window.detail.explain_button.click()


def rgb(colour: QColor) -> tuple[int, int, int]:
    return (colour.red(), colour.green(), colour.blue())


def rgba(colour: QColor) -> tuple[int, int, int, int]:
    return (colour.red(), colour.green(), colour.blue(), colour.alpha())


def test_zoomed_in_a_large_photo_is_shown_from_its_own_pixels_decoded_once(
    qtbot: QtBot, teacher_window: ExplainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dclip_app.full_photo

    decoded: list[Path] = []
    real_decode = dclip_app.full_photo.decode_thumbnail

    def counting_decode(sources: list[Path], edge: int) -> QImage:
        decoded.extend(sources)
        return real_decode(sources, edge)

    monkeypatch.setattr(dclip_app.full_photo, "decode_thumbnail", counting_decode)
    big = tmp_path / "big.jpg"
    photo("coffee", (3600, 2400)).save(big, quality=90)
    canvas = teacher_window.canvas
    explain(qtbot, teacher_window, big, "a cup")
    assert canvas.photo_pixmap.width() < 3600  # drawn from the core's display copy
    canvas.actual_size()
    qtbot.waitUntil(canvas.detail.item.isVisible, timeout=20_000)
    assert decoded == [big]
    assert canvas.detail.source is not None
    assert canvas.detail.source.size().toTuple() == (3600, 2400)  # type: ignore[attr-defined]

    explain(qtbot, teacher_window, big, "a saucer")  # the same photo, another query
    assert not canvas.detail.item.isVisible()  # shown anew, fitted
    canvas.actual_size()
    qtbot.waitUntil(canvas.detail.item.isVisible, timeout=5_000)
    assert decoded == [big]  # the kept full-size photo, not a second decode
