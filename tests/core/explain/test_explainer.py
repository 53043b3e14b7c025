"""The explain runtime on `test-tiny`: shapes, masks, cache, regions, errors, cancel."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from dclip_core.cancel import CancelToken
from dclip_core.explain import (
    AttentionView,
    ExplainCancelledError,
    Explainer,
    ExplainError,
    render_overlay,
)
from dclip_core.explain.overlay import display_copy

from .conftest import TEACHER_HEADS, TEACHER_LAYERS

QUERY = "a small red circle left of a large blue star"


@pytest.fixture
def explainer(explain_bundle: Path) -> Explainer:
    return Explainer.load(explain_bundle, provider="cpu", max_regions=6)


def test_teacher_explanation_has_every_layer_and_head(
    explainer: Explainer, scene_photo: Path
) -> None:
    assert explainer.methods == ["teacher", "similarity"]
    result = explainer.explain(scene_photo, QUERY, method="teacher")
    n_spans, n_regions = len(result.spans), len(result.regions)
    # tokens spans (the teacher's own mode): one per BPE token of the query
    assert result.span_mode == "tokens"
    assert [s.text for s in result.spans] == QUERY.split()
    assert 2 <= n_regions <= 6  # yolo-test-tiny proposes boxes; capped at max_regions
    assert result.regions[0].kind == "photo"
    assert result.regions[0].box == (0.0, 0.0, 300.0, 200.0)
    assert {r.kind for r in result.regions[1:]} == {"detection"}
    assert result.text_to_region.shape == (TEACHER_LAYERS, TEACHER_HEADS, n_spans, n_regions)
    assert result.region_to_text.shape == (TEACHER_LAYERS, TEACHER_HEADS, n_regions, n_spans)
    np.testing.assert_allclose(result.text_to_region.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(result.region_to_text.sum(-1), 1.0, atol=1e-5)
    assert result.region_source == "detector:yolo-test-tiny"
    assert result.bundle_fingerprint == explainer.manifest.fingerprint
    # the base model is random: labelled, never passed off as meaningful
    assert not result.meaningful
    assert any("random weights" in line for line in result.caveats)


def test_views_select_layers_heads_rollout_and_hidden_regions(
    explainer: Explainer, scene_photo: Path
) -> None:
    result = explainer.explain(scene_photo, QUERY, method="teacher")
    maps = result.text_to_region
    np.testing.assert_allclose(result.weights(), maps[-1].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(result.weights(AttentionView(layer=0, head=2)), maps[0, 2])
    back = result.weights(AttentionView(direction="region_to_text", layer=1, head=0))
    np.testing.assert_allclose(back, result.region_to_text[1, 0])
    rollout = result.weights(AttentionView(layer="rollout"))
    assert rollout.shape == maps.shape[2:]
    np.testing.assert_allclose(rollout.sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(rollout, maps[-1].mean(axis=0), atol=1e-4)  # two layers mix
    # hiding regions: their columns are zero, rows sum to one over the regions still shown
    hidden = result.weights(AttentionView(hidden_regions=frozenset({0})))
    assert np.all(hidden[:, 0] == 0)
    np.testing.assert_allclose(hidden.sum(axis=1), 1.0, atol=1e-5)
    expected = maps[-1].mean(axis=0)[:, 1:]
    np.testing.assert_allclose(hidden[:, 1:], expected / expected.sum(1, keepdims=True), atol=1e-5)
    with pytest.raises(ValueError, match="layer 2 does not exist"):
        result.weights(AttentionView(layer=2))
    with pytest.raises(ValueError, match="head 4 does not exist"):
        result.weights(AttentionView(head=4))


def test_rollout_of_one_layer_is_that_layer(tiny_bundle: Path, scene_photo: Path) -> None:
    result = Explainer.load(tiny_bundle, provider="cpu").explain(scene_photo, "a red cup")
    np.testing.assert_allclose(
        result.weights(AttentionView(layer="rollout")), result.weights(), atol=1e-6
    )


def test_a_cache_hit_runs_no_model(explainer: Explainer, scene_photo: Path, tmp_path: Path) -> None:
    first = explainer.explain(scene_photo, QUERY, method="teacher")
    runs = dict(explainer.model_runs)
    assert runs == {"detector": 1, "crop_encoder": 1, "span_encoder": 1, "teacher": 1}
    assert explainer.explain(scene_photo, QUERY, method="teacher") is first
    # a copy of the photo elsewhere has the same content: still a hit, with its own path
    copy = tmp_path / "elsewhere.jpg"
    shutil.copyfile(scene_photo, copy)
    moved = explainer.explain(copy, QUERY, method="teacher")
    assert moved.photo == copy
    assert moved.text_to_region is first.text_to_region
    # every re-colour: another layer, head, span, scale, rollout, overlay
    image = display_copy(explainer.photo_image(first).image)  # type: ignore[union-attr]
    for view in (AttentionView(layer=0), AttentionView(head=1), AttentionView(layer="rollout")):
        for span in range(len(first.spans)):
            render_overlay(image, first, span, view, scale="absolute", colormap="inferno")
    assert dict(explainer.model_runs) == runs
    # another method on the same photo reuses its regions: the detector does not run again
    explainer.explain(scene_photo, QUERY, method="similarity")
    assert explainer.model_runs["detector"] == 1
    # (test-tiny is its own base: the crops' vectors are shared by both methods too)
    assert explainer.model_runs["crop_encoder"] == 1


def test_span_character_ranges_point_into_the_query(
    explainer: Explainer, scene_photo: Path
) -> None:
    query = "  A Red CIRCLE, left of the blue star"
    result = explainer.explain(scene_photo, query, method="similarity")
    assert result.span_mode == "phrases"
    texts = [query[s.chars[0] : s.chars[1]] for s in result.spans if s.chars]
    assert texts == ["A Red CIRCLE", "the blue star"]
    row = result.char_range_weights(4, 7)  # "Red": the first phrase's row
    assert row is not None
    np.testing.assert_allclose(row, result.weights()[0])
    assert result.char_range_weights(15, 19) is None  # "left" is in no phrase


def test_query_template_words_have_no_place_in_the_query(
    tmp_path: Path, tiny_bundle: Path, scene_photo: Path
) -> None:
    import json

    bundle = tmp_path / "templated"
    shutil.copytree(tiny_bundle, bundle)
    manifest = json.loads((bundle / "bundle.json").read_text())
    manifest["text"]["query_template"] = "a photo of {}"
    (bundle / "bundle.json").write_text(json.dumps(manifest))
    result = Explainer.load(bundle, provider="cpu").explain(
        scene_photo, "cup", method="similarity", span_mode="tokens"
    )
    assert result.model_text == "a photo of cup"
    assert [(s.text, s.chars) for s in result.spans] == [
        ("a", None),
        ("photo", None),
        ("of", None),
        ("cup", (0, 3)),
    ]


def test_a_bundle_without_a_detector_uses_the_library_grid(
    tiny_bundle: Path, scene_photo: Path
) -> None:
    explainer = Explainer.load(tiny_bundle, provider="cpu")
    assert explainer.methods == ["similarity"]
    result = explainer.explain(scene_photo, "a red cup")
    assert result.method == "similarity"
    assert result.region_source == "grid"
    assert [r.kind for r in result.regions] == ["photo", "grid", "grid", "grid", "grid"]
    assert result.regions[1].label == "top left"
    assert result.regions[4].box == pytest.approx((120.0, 80.0, 300.0, 200.0))
    assert any("no detector" in line for line in result.caveats)
    assert result.text_to_region.shape == (1, 1, len(result.spans), 5)
    np.testing.assert_allclose(result.text_to_region.sum(-1), 1.0, atol=1e-5)


def test_given_boxes_are_the_regions(explainer: Explainer, scene_photo: Path) -> None:
    boxes = [((10.0, 20.0, 110.0, 120.0), "cup"), ((150.0, 0.0, 400.0, 90.0), "table")]
    result = explainer.explain(scene_photo, "a cup", boxes=boxes)
    assert [(r.label, r.kind) for r in result.regions] == [
        ("photo", "photo"),
        ("cup", "given"),
        ("table", "given"),
    ]
    assert result.regions[2].box == (150.0, 0.0, 300.0, 90.0)  # clamped to the photo
    assert "detector" not in explainer.model_runs
    with pytest.raises(ExplainError, match="empty inside the photo"):
        explainer.explain(scene_photo, "a cup", boxes=[((400.0, 0.0, 500.0, 50.0), "off")])


def test_boxes_of_a_reduced_decode_are_in_full_size_pixels(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    from tests.helpers.images import large_photo

    path = tmp_path / "large.jpg"
    large_photo((4000, 3000)).save(path, quality=85)
    result = Explainer.load(tiny_bundle, provider="cpu").explain(path, "a photo")
    assert result.image_size == (4000, 3000)
    assert result.regions[0].box == (0.0, 0.0, 4000.0, 3000.0)
    assert result.regions[4].box == pytest.approx((1600.0, 1200.0, 4000.0, 3000.0))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "file not found"),
        (b"", "empty file"),
        (b"this is not a picture at all", "not a recognised image format"),
    ],
)
def test_unreadable_photos_give_one_line(
    explainer: Explainer, tmp_path: Path, content: bytes | None, match: str
) -> None:
    path = tmp_path / "broken.jpg"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ExplainError, match=match) as caught:
        explainer.explain(path, "a cup")
    assert "\n" not in str(caught.value)
    assert str(path) in str(caught.value)


def test_bad_requests_give_one_line(
    explainer: Explainer, tiny_bundle: Path, scene_photo: Path
) -> None:
    with pytest.raises(ExplainError, match="the query is empty"):
        explainer.explain(scene_photo, "   ")
    with pytest.raises(ExplainError, match="unknown explain method 'gradcam'"):
        explainer.explain(scene_photo, "a cup", method="gradcam")
    with pytest.raises(ExplainError, match="unknown span mode"):
        explainer.explain(scene_photo, "a cup", span_mode="words")  # type: ignore[arg-type]
    plain = Explainer.load(tiny_bundle, provider="cpu")
    with pytest.raises(ExplainError, match=r"has no explain/ part.*--method similarity"):
        plain.explain(scene_photo, "a cup", method="teacher")


def test_cancel_stops_before_any_model_runs(explainer: Explainer, scene_photo: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(ExplainCancelledError):
        explainer.explain(scene_photo, QUERY, cancel=token)
    assert sum(explainer.model_runs.values()) == 0


def test_a_teacher_whose_training_is_not_recorded_is_labelled(
    explainer: Explainer, scene_photo: Path
) -> None:
    result = explainer.explain(scene_photo, QUERY, method="teacher")
    recorded = explainer.models.teacher_steps
    if recorded is None:
        assert any("does not record the teacher's training" in c for c in result.caveats)
    else:
        assert recorded == 5
