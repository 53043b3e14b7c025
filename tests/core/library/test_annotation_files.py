"""COCO and DCLIP JSON: export → import → export gives the same bytes; hostile files are refused
item by item with a reason, and nothing is half-applied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dclip_core.library.annotation_formats import (
    AnnotationFileError,
    export_files,
    import_files,
)
from dclip_core.library.annotations import Annotations
from dclip_core.library.store import LibraryStore
from tests.helpers.photo_rows import photo_library


def _annotated(tmp_path: Path) -> tuple[Annotations, list[int]]:
    ids = photo_library(tmp_path / "a" / "photos", tmp_path / "a" / "library", count=4)
    api = Annotations(LibraryStore(tmp_path / "a" / "library"))
    api.add_label("zebra")  # a label no box uses: still exported, in its place
    api.add_caption(ids[0], "an astronaut in a white suit")
    api.add_caption(ids[0], "a woman smiling")  # several captions, in order
    suit = api.add_box(ids[0], 10.125, 20.5, 100.0 / 3, 40, "person").first_created()
    api.add_box(ids[0], 30, 30, 0, 0, "point")  # a zero-area box
    api.link_span(api.captions(ids[0])[0].id, 3, 12, suit.id)
    api.add_box(ids[1], 1, 1, 199, 99, "cat")  # boxes only; photo 2 has nothing
    api.add_box(ids[3], 5, 5, 10, 10, "rocket", source="detector", score=0.75)  # a suggestion
    return api, ids


def _empty_library_with_same_photos(tmp_path: Path) -> Annotations:
    photo_library(tmp_path / "b" / "photos", tmp_path / "b" / "library", count=4)
    return Annotations(LibraryStore(tmp_path / "b" / "library"))


@pytest.mark.parametrize("fmt", ["coco", "json"])
def test_export_import_export_is_byte_stable(tmp_path: Path, fmt: str) -> None:
    api, _ = _annotated(tmp_path)
    out_a = tmp_path / ("export-a" if fmt == "coco" else "a.json")
    summary = export_files(api, fmt, out_a)  # type: ignore[arg-type]
    assert (summary.photos, summary.annotated) == (4, 3 if fmt == "json" else 2)

    other = _empty_library_with_same_photos(tmp_path)
    report = import_files(other, fmt, [out_a])  # type: ignore[arg-type]
    assert report.applied, report.problems
    assert report.problems == []
    out_b = tmp_path / ("export-b" if fmt == "coco" else "b.json")
    export_files(other, fmt, out_b)  # type: ignore[arg-type]
    produced = sorted(out_b.iterdir()) if fmt == "coco" else [out_b]
    for a, b in zip(summary.files, produced, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    # Importing the same file again adds nothing.
    again = import_files(other, fmt, [out_a])  # type: ignore[arg-type]
    assert (again.captions_added, again.boxes_added, again.links_added) == (0, 0, 0)


def test_coco_files_follow_the_conventions_other_tools_need(tmp_path: Path) -> None:
    api, _ = _annotated(tmp_path)
    export_files(api, "coco", tmp_path / "coco")
    captions = json.loads((tmp_path / "coco" / "captions.json").read_text())
    instances = json.loads((tmp_path / "coco" / "instances.json").read_text())
    assert captions["images"] == instances["images"]  # one id space
    assert [i["file_name"] for i in instances["images"]] == [
        "beach/p1.jpg",
        "beach/p3.jpg",
        "p0.jpg",
        "p2.jpg",  # no annotations, still listed
    ]
    assert all(i["width"] and i["height"] for i in instances["images"])
    assert [(c["id"], c["name"]) for c in instances["categories"]] == [
        (1, "zebra"),
        (2, "person"),
        (3, "point"),
        (4, "cat"),
    ]
    person = instances["annotations"][1]
    assert person["bbox"] == [10.125, 20.5, 100.0 / 3, 40.0]  # not rounded
    assert person["area"] == pytest.approx(100.0 / 3 * 40)
    assert (person["iscrowd"], person["segmentation"]) == (0, [])
    assert [a["id"] for a in instances["annotations"]] == [1, 2, 3]  # suggestions left out
    assert [a["id"] for a in captions["annotations"]] == [1, 2]


def test_foreign_coco_is_matched_by_category_name_and_segmentations_are_accepted(
    tmp_path: Path,
) -> None:
    api = _empty_library_with_same_photos(tmp_path)
    api.add_label("dog")
    instances = {
        "images": [{"id": 7, "file_name": "p0.jpg", "width": 200, "height": 100}],
        "categories": [{"id": 0, "name": "cat"}, {"id": 12, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 12, "bbox": [1, 2, 3, 4]},  # no segmentation
            {
                "id": 2,
                "image_id": 7,
                "category_id": 12,
                "bbox": [5, 5, 5, 5],
                "segmentation": [[5, 5, 10, 5, 10, 10]],
            },
            {
                "id": 3,
                "image_id": 7,
                "category_id": 12,
                "bbox": [6, 6, 5, 5],
                "segmentation": {"counts": "abc", "size": [100, 200]},
            },
        ],
    }
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps(instances))
    report = import_files(api, "coco", [path])
    assert [str(p) for p in report.problems] == [
        "foreign.json categories[1]: needs an integer 'id' >= 1 and a 'name'"
    ]
    assert not report.applied
    report = import_files(api, "coco", [path], skip_invalid=True)
    assert report.applied
    assert report.boxes_added == 3
    photo = api.photo_by_path(str(tmp_path / "b" / "photos" / "p0.jpg"))
    assert {b.label for b in api.boxes(photo.image_id)} == {"dog"}
    assert [label.name for label in api.labels()] == ["dog"]  # matched by name, not id 12


def _coco(tmp_path: Path, images: object, annotations: object, name: str = "h.json") -> Path:
    path = tmp_path / name
    data = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "x"}]}
    path.write_text(json.dumps(data))
    return path


def test_hostile_coco_files_are_refused_item_by_item(tmp_path: Path) -> None:
    api = _empty_library_with_same_photos(tmp_path)
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"x")
    images = [
        {"id": 1, "file_name": "../a/photos/p0.jpg", "width": 200, "height": 100},
        {"id": 2, "file_name": str(outside), "width": 1, "height": 1},
        {"id": 3, "file_name": "nowhere.jpg", "width": 1, "height": 1},
        {"id": 4, "file_name": "p0.jpg", "width": "200", "height": 100},
        {"id": 5, "file_name": "p0.jpg", "width": 200, "height": 100},
        {"id": 5, "file_name": "p2.jpg", "width": 202, "height": 102},
        {"id": 6, "file_name": "beach/p1.jpg", "width": 999, "height": 100},
        {"id": True, "file_name": "p2.jpg"},
    ]
    annotations = [
        {"id": 1, "image_id": 5, "caption": "fine"},
        {"id": 1, "image_id": 5, "caption": "duplicate id"},
        {"id": 2, "image_id": 5, "category_id": 1, "bbox": [150, 0, 60, 10]},
        {"id": 3, "image_id": 5, "category_id": 1, "bbox": [0, 0, "1", 1]},
        {"id": 4, "image_id": 5, "category_id": 9, "bbox": [0, 0, 1, 1]},
        {"id": 5, "image_id": 99, "caption": "no such image"},
        {"id": 6, "image_id": 5, "caption": 42},
        {"id": 7, "image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1], "iscrowd": 1},
    ]
    report = import_files(api, "coco", [_coco(tmp_path, images, annotations)])
    reasons = [str(p) for p in report.problems]
    expected = [
        "images[4]: 'width' and 'height' must be positive integers",
        "images[6]: image id 5 is already p0.jpg",  # one id, two files
        "images[8]: needs an integer 'id' >= 1",  # true is not an id
        "annotations[2]: annotation id 1 is used twice",
        "annotations[4]: 'bbox' must be",
        "annotations[5]: category_id 9 is not in categories",
        "annotations[6]: image_id 99 is not in images",
        "annotations[7]: 'caption' must be a string",
        "annotations[8]: iscrowd regions",
        "images[1] (../a/photos/p0.jpg): file_name '../a/photos/p0.jpg' climbs out with '..'",
        f"images[2] ({outside}): {outside} is outside the library folders",
        "images[3] (nowhere.jpg): nowhere.jpg is not an indexed photo",
        "images[5] (p0.jpg) box 1: box (150, 0, 60x10) reaches outside the 200x100 photo",
        "images[7] (beach/p1.jpg): size 999x100 differs from the photo's 201x101",
    ]
    assert len(reasons) == len(expected), reasons
    for reason in expected:
        assert any(reason in r for r in reasons), (reason, reasons)
    assert not report.applied
    photo = api.photo_by_path(str(tmp_path / "b" / "photos" / "p0.jpg"))
    assert api.captions(photo.image_id) == []  # nothing half-applied
    report = import_files(api, "coco", [tmp_path / "h.json"], skip_invalid=True)
    assert (report.applied, report.captions_added, report.boxes_added) == (True, 1, 0)
    assert [c.text for c in api.captions(photo.image_id)] == ["fine"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "cannot read"),
        (b"[1, 2]", "not a COCO annotation file"),
        (b'{"images": 3, "annotations": []}', "no 'images' list"),
        (b'{"images": [], "annotations": [{"id": NaN}]}', "not a number JSON allows"),
        (b"\xff\xfe", "cannot read"),
        (b"[" * 100_000 + b"]" * 100_000, "cannot read"),
    ],
)
def test_malformed_files_are_refused_with_a_message(
    tmp_path: Path, content: bytes, message: str
) -> None:
    api = _empty_library_with_same_photos(tmp_path)
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(AnnotationFileError, match=message):
        import_files(api, "coco", [path])


def test_huge_counts_are_refused_without_writing(tmp_path: Path) -> None:
    api = _empty_library_with_same_photos(tmp_path)
    images = [{"id": 1, "file_name": "p0.jpg", "width": 200, "height": 100}]
    many = [{"id": i, "image_id": 1, "caption": f"c{i}"} for i in range(1, 1_502)]
    report = import_files(api, "coco", [_coco(tmp_path, images, many)])
    assert not report.applied
    assert "1501 captions and 0 boxes for one photo exceed the limits" in str(report.problems[0])
    huge_id = [{"id": 2**60, "image_id": 1, "caption": "x"}]
    report = import_files(api, "coco", [_coco(tmp_path, images, huge_id, "i.json")])
    assert "needs an integer 'id' >= 1" in str(report.problems[0])
