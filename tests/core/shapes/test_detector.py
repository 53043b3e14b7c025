"""The shapes world's YOLO: its dataset says what the scenes hold, and the trained detector runs
through the ordinary detector registry and region cache, offline and inside our folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dclip_core.config import get_paths
from dclip_core.models.detector import create_detector
from dclip_core.shapes.detector import (
    DetectorConfig,
    box_recall,
    register_trained_detector,
    train_shapes_detector,
    write_yolo_dataset,
)
from dclip_core.shapes.scenes import load_scenes
from dclip_core.shapes.world import ShapesWorld, WorldSize, build_world, shapes_records
from dclip_core.train.regions import RegionCache


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ShapesWorld:
    root = tmp_path_factory.mktemp("detector-world")
    return build_world(root, WorldSize(pretrain=24, finetune=6, test=6, seed=9))


def test_the_yolo_dataset_labels_every_object_with_its_box(
    world: ShapesWorld, tmp_path: Path
) -> None:
    data = write_yolo_dataset(world, tmp_path / "yolo", scenes=10)
    assert "names:\n  0: shape" in data.read_text()
    scenes = load_scenes(world.pretrain_dir)[:10]
    assert sorted(p.name for p in (tmp_path / "yolo" / "images" / "train").iterdir()) == sorted(
        s.file for s in scenes
    )
    for scene in scenes:
        rows = (tmp_path / "yolo" / "labels" / "train" / f"{Path(scene.file).stem}.txt").read_text()
        parsed = [tuple(float(v) for v in row.split()) for row in rows.splitlines()]
        assert len(parsed) == len(scene.objects)
        for (cls, cx, cy, w, h), obj in zip(parsed, scene.objects, strict=True):
            x1, y1, x2, y2 = obj.box
            assert cls == 0
            assert cx * scene.image_size == pytest.approx((x1 + x2) / 2, abs=1e-3)
            assert cy * scene.image_size == pytest.approx((y1 + y2) / 2, abs=1e-3)
            assert w * scene.image_size == pytest.approx(x2 - x1, abs=1e-3)
            assert h * scene.image_size == pytest.approx(y2 - y1, abs=1e-3)
    assert len(list((tmp_path / "yolo" / "images" / "val").iterdir())) == 6


@pytest.mark.slow
def test_a_trained_detector_is_registered_and_proposes_regions(
    world: ShapesWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # ultralytics' default runs/ would land here
    config = DetectorConfig(epochs=1, scenes=24, batch=8)
    weights = train_shapes_detector(world, tmp_path / "run", config)
    assert weights == tmp_path / "run" / "detector.pt"

    spec = register_trained_detector(weights, config)
    assert spec.name.startswith("shapes-yolo-")
    assert (get_paths().weights_dir / f"{spec.name}.pt").is_file()
    detector = create_detector(spec.name)
    recall = box_recall(detector, load_scenes(world.test_dir), world.test_dir)
    assert 0.0 <= recall <= 1.0

    # The region cache runs it like any registered detector (a one-epoch YOLO may find nothing;
    # then the whole image is the one region, flagged as a placeholder).
    cache = RegionCache("shapes-tiny", spec.name, cache_dir=tmp_path / "regions")
    assert cache.source == "yolo"
    record = shapes_records(world.test_dir)[0]
    regions = cache.get(record.path, record.boxes)
    assert regions.embeddings.shape[0] >= 1
    # Everything stayed in the run folder and DCLIP_HOME: no runs/ in the working directory.
    assert sorted(os.listdir(tmp_path)) == ["regions", "run"]
