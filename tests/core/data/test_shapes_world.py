from __future__ import annotations

from pathlib import Path

from PIL import Image

from dclip_core.data.shapes_eval import WorldScores, summarise
from dclip_core.data.shapes_world import WorldSize, build_world, scenes_by_file, shapes_records


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
    from dclip_core.data.shapes import COLOURS

    return COLOURS[colour]
