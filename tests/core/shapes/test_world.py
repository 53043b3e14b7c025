from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from dclip_core.shapes.evaluation import WorldScores, summarise
from dclip_core.shapes.world import (
    CLOSE_UPS_FILE,
    WorldSize,
    build_world,
    scenes_by_file,
    shapes_records,
)
from dclip_core.train.datasets import read_caption_folder


def test_world_parts_are_disjoint_readable_caption_folders(tmp_path: Path) -> None:
    world = build_world(tmp_path / "w", WorldSize(pretrain=12, finetune=8, test=6, seed=1))
    pretrain = shapes_records(world.pretrain_dir)
    finetune = shapes_records(world.finetune_dir)
    test = shapes_records(world.test_dir)
    assert (len(pretrain), len(finetune), len(test)) == (12, 8, 6)
    # Pretraining captions never say where things are; fine-tuning captions do when they can.
    assert not any("left" in c or "right" in c for r in pretrain for c in r.captions)
    assert any("left" in c or "right" in c for r in finetune for c in r.captions)
    # Different seeds: no test image repeats a training image.
    train_pixels = {Image.open(r.path).tobytes() for r in pretrain + finetune}
    assert not any(Image.open(r.path).tobytes() in train_pixels for r in test)
    # Records carry the ground-truth boxes, labelled with the object's class.
    scenes = scenes_by_file(world.test_dir)
    for record in test:
        scene = scenes[record.path.name]
        assert record.boxes is not None
        assert [b.label for b in record.boxes] == [o.label for o in scene.objects]
        assert [tuple(int(v) for v in b[:4]) for b in record.boxes] == [
            o.box for o in scene.objects
        ]


def test_pretraining_close_ups_show_their_object_at_varied_zoom(tmp_path: Path) -> None:
    world = build_world(tmp_path / "w", WorldSize(pretrain=30, finetune=2, test=2, seed=3))
    scenes = scenes_by_file(world.pretrain_dir)
    close_ups = {r.path.name: r for r in read_caption_folder(world.pretrain_objects_dir)}
    truth = json.loads((world.pretrain_objects_dir / CLOSE_UPS_FILE).read_text())["close_ups"]
    assert len(close_ups) == len(truth) == len(scenes)  # one per scene: batches stay even
    fills = []
    for entry in truth:
        obj = scenes[entry["scene"]].objects[entry["object"]]
        assert close_ups[entry["file"]].captions == [f"a {obj.label}", obj.phrase]
        x1, y1, x2, y2 = entry["crop"]
        # A square window of the scene that holds the whole object.
        assert x2 - x1 == y2 - y1
        assert x1 <= obj.box[0]
        assert y1 <= obj.box[1]
        assert obj.box[2] <= x2
        assert obj.box[3] <= y2
        with Image.open(world.pretrain_dir / entry["scene"]) as scene_image:
            expected = scene_image.convert("RGB").crop((x1, y1, x2, y2)).tobytes()
        with Image.open(world.pretrain_objects_dir / entry["file"]) as image:
            assert image.convert("RGB").tobytes() == expected
        fills.append((obj.box[2] - obj.box[0]) / (x2 - x1))
    # Zoom varies from wide (object a fifth of the side, or the whole scene) to tight.
    assert min(fills) < 0.35
    assert max(fills) > 0.7


def test_zero_shot_crops_show_their_class(tmp_path: Path) -> None:
    world = build_world(tmp_path / "w", WorldSize(pretrain=2, finetune=2, test=10, seed=2))
    scenes = scenes_by_file(world.test_dir)
    crops = sorted(world.zeroshot_dir.glob("*/*.png"))
    assert len(crops) == sum(len(s.objects) for s in scenes.values())
    for crop in crops:
        colour, shape = crop.parent.name.split("_")
        scene_file, k = crop.stem.rsplit("_", 1)
        obj = scenes[f"{scene_file}.png"].objects[int(k)]
        assert (obj.colour, obj.shape) == (colour, shape)
        with Image.open(crop) as image:
            assert image.size == (64, 64)
            # The crop's centre is the object's colour.
            r, g, b = image.convert("RGB").getpixel((32, 32))  # type: ignore[misc]
            assert max(abs(r - c) for r, c in zip((r, g, b), _rgb(colour), strict=True)) < 60


def test_world_is_reused_when_sizes_match_and_rebuilt_when_not(tmp_path: Path) -> None:
    size = WorldSize(pretrain=3, finetune=3, test=3)
    world = build_world(tmp_path / "w", size)
    stamp = (world.test_dir / "scenes.json").stat().st_mtime_ns
    build_world(tmp_path / "w", size)
    assert (world.test_dir / "scenes.json").stat().st_mtime_ns == stamp
    bigger = build_world(tmp_path / "w", WorldSize(pretrain=3, finetune=3, test=4))
    assert len(scenes_by_file(bigger.test_dir)) == 4


def test_summary_gives_mean_and_spread_over_seeds() -> None:
    def scores(v: float) -> WorldScores:
        return WorldScores(*([v] * 9))

    summary = summarise([scores(0.2), scores(0.4)])
    assert summary["t2i_r1"]["mean"] == 0.3
    assert summary["t2i_r1"]["values"] == [0.2, 0.4]
    assert abs(summary["t2i_r1"]["std"] - 0.1414) < 1e-3
    assert summarise([scores(0.5)])["zero_shot_top1"]["std"] == 0.0


def _rgb(colour: str) -> tuple[int, int, int]:
    from dclip_core.shapes.scenes import COLOURS

    return COLOURS[colour]
