"""Region cache: real random-init YOLO and test-tiny CLIP on drawn images; the training dataset."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image, ImageDraw

from dclip_core.errors import DatasetError
from dclip_core.models.clip import create_clip
from dclip_core.train.datasets import (
    BoxLabel,
    CaptionedImage,
)
from dclip_core.train.regions import RegionCache

COLOURS = ("red", "green", "blue")


def draw(path: Path, colour: str, size: tuple[int, int] = (120, 90)) -> Path:
    image = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(image)
    d.rectangle([10, 10, 60, 50], fill=colour)
    d.ellipse([60, 40, 110, 85], fill="black")
    image.save(path)
    return path


@pytest.fixture(scope="module")
def clip() -> open_clip.CLIP:
    return create_clip("test-tiny")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[CaptionedImage]:
    folder = tmp_path_factory.mktemp("images")
    return [
        CaptionedImage(
            draw(folder / f"{c}.png", c),
            [f"a {c} box", f"{c} square and a black disc", f"something {c}"],
        )
        for c in COLOURS
    ]


@pytest.fixture(scope="module")
def warm(
    tmp_path_factory: pytest.TempPathFactory, clip: open_clip.CLIP, images: list[CaptionedImage]
) -> Iterator[tuple[Path, RegionCache, list[tuple[int, int]]]]:
    """A YOLO region cache filled once by prepare(), plus what prepare reported."""
    root = tmp_path_factory.mktemp("regions")
    broken = root / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    calls: list[tuple[int, int]] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DCLIP_HOME", str(root / "home"))
        cache = RegionCache(
            "test-tiny", "yolo-test-tiny", max_regions=6, clip_model=clip, cache_dir=root
        )
        cache.prepare(
            [*images, CaptionedImage(broken, ["x"])],
            progress=lambda done, total: calls.append((done, total)),
        )
        yield root, cache, calls


def test_prepare_fills_the_cache_and_reports_broken_images(
    warm: tuple[Path, RegionCache, list[tuple[int, int]]],
) -> None:
    _, cache, calls = warm
    assert cache.stats.computed == 3
    assert [p.name for p, _ in cache.stats.failed] == ["broken.jpg"]
    assert calls[-1] == (4, 4)


def test_warm_cache_never_builds_yolo_or_the_crop_encoder(
    warm: tuple[Path, RegionCache, list[tuple[int, int]]], images: list[CaptionedImage]
) -> None:
    root, cache, _ = warm
    fresh = RegionCache("test-tiny", "yolo-test-tiny", max_regions=6, cache_dir=root)
    for record in images:
        again, first = fresh.get(record.path), cache.get(record.path)
        assert np.array_equal(again.boxes, first.boxes)
        assert torch.equal(again.embeddings, first.embeddings)
        assert 1 <= len(again) <= 6
        assert not again.placeholder
        assert torch.allclose(again.embeddings.norm(dim=1), torch.ones(len(again)), atol=1e-5)
    assert fresh.stats.hits == 3
    assert fresh.stats.computed == 0
    assert not fresh.models_loaded


def test_moved_photo_hits_edited_photo_and_other_conf_miss(
    warm: tuple[Path, RegionCache, list[tuple[int, int]]],
    images: list[CaptionedImage],
    tmp_path: Path,
) -> None:
    root, cache, _ = warm
    moved = shutil.copy(images[0].path, tmp_path / "renamed.png")
    assert cache.key(Path(moved)) == cache.key(images[0].path)
    edited = draw(tmp_path / "edited.png", "purple")
    assert cache.key(edited) != cache.key(images[0].path)
    stricter = RegionCache("test-tiny", "yolo-test-tiny", conf=0.5, max_regions=6, cache_dir=root)
    assert stricter.key(images[0].path) != cache.key(images[0].path)


def test_corrupt_entries_are_recomputed_not_fatal(
    warm: tuple[Path, RegionCache, list[tuple[int, int]]], images: list[CaptionedImage]
) -> None:
    _, cache, _ = warm
    path = images[1].path
    expected = cache.get(path)
    entry = cache.entry_path(cache.key(path))
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])  # a torn write
    repaired_before = cache.stats.repaired
    again = cache.get(path)
    assert cache.stats.repaired == repaired_before + 1
    assert np.allclose(again.boxes, expected.boxes)
    assert torch.allclose(again.embeddings, expected.embeddings, atol=1e-5)
    # an entry of another image copied over this one is caught by its stored key
    shutil.copy(cache.entry_path(cache.key(images[2].path)), entry)
    assert np.allclose(cache.get(path).boxes, expected.boxes)
    assert cache.stats.repaired == repaired_before + 2


def test_gt_regions_are_standard_clip_crop_embeddings(
    clip: open_clip.CLIP, images: list[CaptionedImage], tmp_path: Path
) -> None:
    gt = [BoxLabel(10, 10, 60, 50, "square"), BoxLabel(60.4, 40.2, 110.0, 85.0, "disc")]
    cache = RegionCache("test-tiny", "gt", clip_model=clip, cache_dir=tmp_path)
    regions = cache.get(images[0].path, gt)

    assert regions.labels == ("square", "disc")
    assert np.allclose(regions.boxes, [[10, 10, 60, 50], [60.4, 40.2, 110, 85]])
    assert list(regions.scores) == [1.0, 1.0]
    # independent reference: open_clip's own eval transform with CLIP's mean/std, then normalise
    reference_transform = open_clip.image_transform(64, is_train=False)
    image = Image.open(images[0].path).convert("RGB")
    crops = [image.crop((10, 10, 60, 50)), image.crop((60, 40, 110, 85))]
    with torch.no_grad():
        reference = clip.encode_image(torch.stack([reference_transform(c) for c in crops]))
    reference = torch.nn.functional.normalize(reference, dim=-1)
    assert torch.allclose(regions.embeddings, reference, atol=1e-5)
    # other boxes are another cache entry
    assert cache.key(images[0].path, gt[:1]) != cache.key(images[0].path, gt)


def test_no_box_gives_one_zero_placeholder_region(
    clip: open_clip.CLIP, images: list[CaptionedImage], tmp_path: Path
) -> None:
    regions = RegionCache("test-tiny", "gt", clip_model=clip, cache_dir=tmp_path).get(
        images[0].path, None
    )
    assert regions.placeholder
    assert len(regions) == 1
    assert torch.equal(regions.embeddings, torch.zeros(1, 32))
    assert regions.boxes.tolist() == [[0, 0, 120, 90]]


def test_yolo_plus_gt_puts_user_boxes_first(
    warm: tuple[Path, RegionCache, list[tuple[int, int]]],
    clip: open_clip.CLIP,
    images: list[CaptionedImage],
    tmp_path: Path,
) -> None:
    _, yolo_cache, _ = warm
    mixed = RegionCache(
        "test-tiny",
        "yolo-test-tiny",
        source="yolo+gt",
        max_regions=6,
        clip_model=clip,
        cache_dir=tmp_path,
    )
    mixed._detector = yolo_cache._detector  # same detector settings; saves building it again
    gt = [BoxLabel(5, 5, 40, 40, "mine")]
    regions = mixed.get(images[0].path, gt)
    detected = yolo_cache.get(images[0].path)
    assert regions.labels[0] == "mine"
    assert np.allclose(regions.boxes[0], [5, 5, 40, 40])
    assert np.allclose(regions.boxes[1:], detected.boxes[:5])
    assert len(regions) == 6


def test_undecodable_image_is_a_clear_error(clip: open_clip.CLIP, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    cache = RegionCache("test-tiny", "gt", clip_model=clip, cache_dir=tmp_path)
    with pytest.raises(DatasetError, match=r"bad\.png"):
        cache.get(bad)
