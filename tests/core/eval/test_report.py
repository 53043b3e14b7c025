"""Evaluation end to end: retrieval and zero-shot of a torch model and its bundle, one report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dclip_core.errors import DatasetError
from dclip_core.eval.embedders import BundleEmbedder, open_embedder
from dclip_core.eval.report import evaluate_models
from dclip_core.eval.tasks import ClassFolderDataset, evaluate_retrieval
from dclip_core.shapes.scenes import generate_scenes
from tests.helpers.method_data import shapes_records


@pytest.fixture(scope="module")
def class_folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Single-object scenes filed by their colour+shape label, like an ImageNet folder export."""
    root = tmp_path_factory.mktemp("classes")
    scenes = generate_scenes(
        18, seed=3, image_size=64, max_objects=1, shapes=("circle", "star"), colours=("red", "blue")
    )
    for scene, image in scenes:
        folder = root / scene.objects[0].label.replace(" ", "_")
        folder.mkdir(exist_ok=True)
        image.save(folder / f"{scene.scene_id}.png")
    (root / ".hidden").mkdir()
    (root / "empty_class").mkdir()
    return root


def test_class_folders_are_read_as_classes(class_folders: Path) -> None:
    data = ClassFolderDataset.read(class_folders)
    assert set(data.class_names) <= {"red circle", "red star", "blue circle", "blue star"}
    assert len(data.samples) == 18
    with pytest.raises(DatasetError, match="at least two class folders"):
        ClassFolderDataset.read(class_folders / "empty_class")


def test_torch_and_bundle_agree_and_report_compares_them(
    tiny_bundle: Path, class_folders: Path, tmp_path: Path
) -> None:
    records = shapes_records(tmp_path / "shapes", 12)
    torch_model = open_embedder("test-tiny")
    bundle = open_embedder(str(tiny_bundle))
    assert isinstance(bundle, BundleEmbedder)
    report = evaluate_models(
        [torch_model, bundle],
        retrieval=records,
        zero_shot=ClassFolderDataset.read(class_folders),
        templates=("a photo of a {}", "a drawing of a {}"),
    )
    base, other = report.models
    assert base.retrieval is not None
    assert other.retrieval is not None
    # the same weights through ONNX Runtime: the same rankings
    assert other.retrieval.text_to_image.mrr == pytest.approx(
        base.retrieval.text_to_image.mrr, abs=1e-6
    )
    assert other.retrieval.image_to_text.map == pytest.approx(
        base.retrieval.image_to_text.map, abs=1e-6
    )
    assert base.retrieval.text_to_image.queries == sum(len(r.captions) for r in records)
    assert base.zero_shot is not None
    assert base.zero_shot.samples == 18
    comparison = report.comparisons()[0]
    assert comparison["zero_shot_retention"]["top1"] == pytest.approx(1.0)
    json_path, md_path = report.write(tmp_path / "report")
    saved = json.loads(json_path.read_text())
    assert saved["models"][0]["name"] == "test-tiny"
    assert saved["data"]["templates"] == ["a photo of a {}", "a drawing of a {}"]
    markdown = md_path.read_text()
    assert "| test-tiny |" in markdown
    assert "retention top-1" in markdown


def test_retrieval_counts_every_caption(tmp_path: Path) -> None:
    records = shapes_records(tmp_path / "shapes", 5)
    model = open_embedder("test-tiny")
    metrics = evaluate_retrieval(model, records)
    assert metrics.image_to_text.queries == 5
    captions = [c for r in records for c in r.captions]
    assert metrics.text_to_image.queries == len(captions)
    images = model.embed_images([r.path for r in records])
    assert np.allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
