from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from dclip_core.shapes.scenes import (
    COLOURS,
    describe,
    generate_scenes,
    load_scenes,
    write_shapes_dataset,
)


def test_same_seed_same_world() -> None:
    a = [(s.captions, np.asarray(im)) for s, im in generate_scenes(5, seed=3)]
    b = [(s.captions, np.asarray(im)) for s, im in generate_scenes(5, seed=3)]
    for (cap_a, im_a), (cap_b, im_b) in zip(a, b, strict=True):
        assert cap_a == cap_b
        np.testing.assert_array_equal(im_a, im_b)


def test_objects_are_drawn_where_their_boxes_say() -> None:
    for scene, image in generate_scenes(40, seed=7):
        pixels = np.asarray(image).astype(int)
        for obj in scene.objects:
            x1, y1, x2, y2 = obj.box
            assert 0 <= x1 < x2 <= scene.image_size
            assert 0 <= y1 < y2 <= scene.image_size
            # Every shape covers its box centre; the colour there is the object's colour.
            centre = pixels[(y1 + y2) // 2, (x1 + x2) // 2]
            assert np.abs(centre - np.array(COLOURS[obj.colour])).max() < 40, (scene, obj)


def test_captions_name_every_object_in_left_to_right_order() -> None:
    for scene, _ in generate_scenes(40, seed=11):
        ordered = sorted(scene.objects, key=lambda o: o.center_x)
        first = scene.captions[0]
        for obj in scene.objects:
            assert all(obj.phrase in caption for caption in scene.captions)
        if len(ordered) >= 2 and "left of" in first:
            assert first.index(ordered[0].phrase) < first.index(ordered[-1].phrase)


def test_hard_negative_differs_in_one_binding() -> None:
    seen = 0
    for scene, _ in generate_scenes(60, seed=5, min_objects=2):
        if scene.hard_negative is None:
            continue
        seen += 1
        truth = describe(scene.objects, style=0)
        assert scene.hard_negative != truth
        # Same words, different arrangement: a bag-of-words model cannot tell them apart.
        assert sorted(scene.hard_negative.split()) == sorted(truth.split())
    assert seen >= 50


def test_written_dataset_round_trips(tmp_path: Path) -> None:
    scenes = write_shapes_dataset(tmp_path, 8, seed=2)
    rows = list(csv.DictReader((tmp_path / "captions.csv").open()))
    assert {r["file"] for r in rows} == {s.file for s in scenes}
    assert len(rows) == sum(len(s.captions) for s in scenes)
    assert load_scenes(tmp_path) == scenes
    with Image.open(tmp_path / scenes[0].file) as image:
        assert image.size == (128, 128)


def test_bag_captions_name_all_objects_or_one_without_saying_where() -> None:
    for scene, _ in generate_scenes(40, seed=13, caption_style="bag", captions_per_scene=4):
        assert len(scene.captions) == 4
        for caption in scene.captions:
            assert "left" not in caption
            assert "right" not in caption
        # The first half lists every object; the rest name one object of the scene.
        for caption in scene.captions[:2]:
            for obj in scene.objects:
                assert f"{obj.colour} {obj.shape}" in caption
        for caption in scene.captions[2:]:
            assert caption in {o.phrase for o in scene.objects} | {
                f"a {o.label}" for o in scene.objects
            }
