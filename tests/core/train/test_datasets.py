"""Dataset readers on small files written in each format, broken rows included."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from dclip_core.errors import DatasetError
from dclip_core.train.datasets import (
    BoxLabel,
    CaptionedImage,
    DatasetReport,
    DatasetSource,
    karpathy_eval_keys,
    read_annotations,
    read_caption_folder,
    read_coco_captions,
    read_conceptual_captions,
    read_flickr30k_csv,
    read_karpathy,
    read_sources,
    training_records,
)
from dclip_core.train.runs import split_train_val


def draw_image(path: Path, colour: str = "red", size: tuple[int, int] = (80, 60)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle([10, 10, 50, 40], fill=colour)
    image.save(path)
    return path


def test_coco_captions_groups_captions_and_reports_missing_and_empty(tmp_path: Path) -> None:
    draw_image(tmp_path / "train2017" / "000000000001.jpg")
    draw_image(tmp_path / "train2017" / "000000000003.jpg")
    captions = {
        "images": [
            {"id": 1, "file_name": "000000000001.jpg"},
            {"id": 2, "file_name": "000000000002.jpg"},  # image not on disk
            {"id": 3, "file_name": "000000000003.jpg"},  # only blank captions
            {"no_file_name": True},
        ],
        "annotations": [
            {"image_id": 1, "caption": "A red box. "},
            {"image_id": 1, "caption": "a square on white"},
            {"image_id": 2, "caption": "gone"},
            {"image_id": 3, "caption": "   "},
        ],
    }
    instances = {
        "categories": [{"id": 7, "name": "box"}],
        "annotations": [
            {"image_id": 1, "bbox": [10, 10, 40, 30], "category_id": 7, "iscrowd": 0},
            {"image_id": 1, "bbox": [0, 0, 5, 5], "category_id": 7, "iscrowd": 1},
        ],
    }
    (tmp_path / "captions.json").write_text(json.dumps(captions))
    (tmp_path / "instances.json").write_text(json.dumps(instances))
    report = DatasetReport()

    records = read_coco_captions(
        tmp_path / "captions.json",
        tmp_path / "train2017",
        instances_json=tmp_path / "instances.json",
        report=report,
    )

    assert [r.image_id for r in records] == ["1"]
    assert records[0].captions == ["A red box.", "a square on white"]
    assert records[0].boxes == [BoxLabel(10.0, 10.0, 50.0, 40.0, "box")]
    assert report.read == 1
    assert report.reasons() == {"missing image": 1, "no caption": 1, "broken entry": 1}
    assert "skipped 3" in report.summary()


def test_not_a_coco_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("[1, 2")
    with pytest.raises(DatasetError, match=r"x\.json"):
        read_coco_captions(tmp_path / "x.json", tmp_path)


def karpathy_coco(tmp_path: Path) -> Path:
    draw_image(tmp_path / "coco" / "val2014" / "COCO_val2014_000000000005.jpg")
    draw_image(tmp_path / "coco" / "train2014" / "COCO_train2014_000000000006.jpg")
    data = {
        "dataset": "coco",
        "images": [
            {
                "filepath": "val2014",
                "filename": "COCO_val2014_000000000005.jpg",
                "cocoid": 5,
                "split": "test",
                "sentences": [{"raw": "a test photo"}],
            },
            {
                "filepath": "train2014",
                "filename": "COCO_train2014_000000000006.jpg",
                "cocoid": 6,
                "split": "restval",
                "sentences": [{"raw": "a training photo"}, {"raw": ""}],
            },
        ],
    }
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps(data))
    return path


def test_karpathy_reads_splits_and_paths(tmp_path: Path) -> None:
    split_json = karpathy_coco(tmp_path)

    records = read_karpathy(split_json, tmp_path / "coco")
    test_only = read_karpathy(split_json, tmp_path / "coco", splits=["test"])

    assert [(r.split, r.image_id, r.captions) for r in records] == [
        ("test", "5", ["a test photo"]),
        ("restval", "6", ["a training photo"]),
    ]
    assert records[0].path.parent.name == "val2014"
    assert [r.image_id for r in test_only] == ["5"]
    assert karpathy_eval_keys(split_json) == {("coco", "5")}


def test_karpathy_test_images_are_excluded_from_coco_train2017(tmp_path: Path) -> None:
    """COCO train2017 holds most Karpathy test images under another file name: match by id."""
    split_json = karpathy_coco(tmp_path)
    for image_id in (5, 7):
        draw_image(tmp_path / "train2017" / f"{image_id:012d}.jpg")
    captions = {
        "images": [{"id": i, "file_name": f"{i:012d}.jpg"} for i in (5, 7)],
        "annotations": [{"image_id": i, "caption": f"photo {i}"} for i in (5, 7)],
    }
    (tmp_path / "captions.json").write_text(json.dumps(captions))

    records, report = read_sources(
        [
            DatasetSource("coco", tmp_path / "captions.json", tmp_path / "train2017"),
            DatasetSource("karpathy", split_json, tmp_path / "coco"),
        ],
        karpathy=[split_json],
    )

    assert sorted((r.source, r.image_id, r.split) for r in records) == [
        ("coco", "6", "restval"),
        ("coco", "7", None),
    ]
    assert report.excluded_eval == 2  # train2017 copy of 5, and Karpathy's own test entry
    assert "excluded 2 Karpathy" in report.summary()


def test_flickr30k_kaggle_csv_with_broken_rows(tmp_path: Path) -> None:
    draw_image(tmp_path / "images" / "1000092795.jpg")
    draw_image(tmp_path / "images" / "10002456.jpg")
    (tmp_path / "results.csv").write_text(
        "image_name| comment_number| comment\n"
        "1000092795.jpg| 0| Two young guys with shaggy hair .\n"
        "1000092795.jpg| 1| Two friends enjoy time outside .\n"
        "2199200615.jpg| 4   A dog runs across the grass .\n"  # the real file has this row
        "10002456.jpg| 0| Several men in hard hats .\n"
        "404.jpg| 0| an image that is not there\n"
        "\n"
    )
    report = DatasetReport()

    records = read_flickr30k_csv(tmp_path / "results.csv", tmp_path / "images", report=report)

    assert {r.image_id: len(r.captions) for r in records} == {"1000092795": 2, "10002456": 1}
    assert records[0].captions[0] == "Two young guys with shaggy hair ."
    assert sorted(s.reason for s in report.skipped) == ["broken row", "missing image"]
    assert any("line 4" in s.item for s in report.skipped)


def test_flickr30k_original_token_file(tmp_path: Path) -> None:
    draw_image(tmp_path / "1000092795.jpg")
    (tmp_path / "results.token").write_text(
        "1000092795.jpg#0\tTwo young guys .\n1000092795.jpg#1\tTwo friends .\n"
    )
    records = read_flickr30k_csv(tmp_path / "results.token", tmp_path)
    assert records[0].captions == ["Two young guys .", "Two friends ."]


def test_conceptual_captions_finds_img2dataset_numbering_and_reports_undownloaded(
    tmp_path: Path,
) -> None:
    draw_image(tmp_path / "cc" / "00000" / "000000000.jpg")
    draw_image(tmp_path / "cc" / "00000" / "000000002.png")
    draw_image(tmp_path / "cc" / "misc" / "beach.jpg")
    (tmp_path / "train.tsv").write_text(
        "a cat on a sofa\thttp://example.com/a.jpg\n"
        "a dog that failed to download\thttp://example.com/b.jpg\n"
        "a bird\thttp://example.com/c.jpg?x=1\n"
        "no url on this line\n"
        "sunset over the beach\thttps://example.com/photos/beach.jpg\n"
    )
    report = DatasetReport()

    records = read_conceptual_captions(tmp_path / "train.tsv", tmp_path / "cc", report=report)

    assert [(r.image_id, r.captions[0], r.path.name) for r in records] == [
        ("0", "a cat on a sofa", "000000000.jpg"),
        ("2", "a bird", "000000002.png"),
        ("4", "sunset over the beach", "beach.jpg"),
    ]
    assert report.reasons() == {"missing image": 1, "broken row": 1}


def test_caption_folder_sidecars_and_captions_csv(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    draw_image(folder / "a.jpg")
    (folder / "a.txt").write_text("a red square\n\nred box on white\n")
    draw_image(folder / "sub" / "b.png", "blue")
    draw_image(folder / "c.jpg", "green")  # no caption anywhere
    (folder / "captions.csv").write_text(
        "file,caption\nsub/b.png,a blue square\na.jpg,from the csv\nmissing.jpg,nobody\n,\n"
    )
    report = DatasetReport()

    records = read_caption_folder(folder, report=report)

    by_name = {r.path.name: r.captions for r in records}
    assert by_name == {
        "a.jpg": ["from the csv", "a red square", "red box on white"],
        "b.png": ["a blue square"],
    }
    assert report.reasons() == {"no caption": 1, "missing image": 1, "broken row": 1}


def test_caption_csv_without_header_is_refused(tmp_path: Path) -> None:
    (tmp_path / "captions.csv").write_text("a.jpg,some caption\n")
    with pytest.raises(DatasetError, match="'file' and 'caption'"):
        read_caption_folder(tmp_path)


@dataclass
class StoredAnnotation:
    """Shape of one annotated photo as the library store yields it (see AnnotatedImage)."""

    path: Path
    captions: list[str]
    boxes: list[tuple[float, float, float, float, str]] = field(default_factory=list)


def test_library_annotations_become_records_with_user_boxes(tmp_path: Path) -> None:
    photo = draw_image(tmp_path / "p.jpg")
    report = DatasetReport()
    records = read_annotations(
        [
            StoredAnnotation(photo, ["my red box"], [(10, 10, 50, 40, "box")]),
            StoredAnnotation(photo, [" "]),
        ],
        report=report,
    )
    assert records[0].boxes == [BoxLabel(10.0, 10.0, 50.0, 40.0, "box")]
    assert records[0].source == "library"
    assert report.reasons() == {"no caption": 1}


def test_unknown_format_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="coco, karpathy"):
        read_sources([DatasetSource("parquet", tmp_path)])


def test_train_val_split_is_deterministic(tmp_path: Path) -> None:
    records = [CaptionedImage(tmp_path / f"{i}.jpg", [str(i)]) for i in range(20)]
    train, val = split_train_val(records, 0.1, seed=3)
    _, val2 = split_train_val(records, 0.1, seed=3)
    assert len(train) == 18
    assert len(val) == 2
    assert [r.path for r in val] == [r.path for r in val2]
    assert not {r.path for r in train} & {r.path for r in val}
    assert training_records([CaptionedImage(tmp_path / "x.jpg", ["x"], split="val")]) == []
