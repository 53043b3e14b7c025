"""The exported towers compute what open_clip computes, at test size and at real ViT-B/32 size."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import open_clip
import pytest
import torch
from open_clip import CLIP

from dclip_core.export.bundle_writer import write_bundle
from dclip_core.export.onnx_export import TextTowerForExport, export_text_tower
from dclip_core.export.reference_inputs import REFERENCE_TEXTS, reference_images, row_cosines
from dclip_core.models.clip import create_clip
from dclip_core.models.registry import get_model_spec
from dclip_core.runtime.bundle import load_manifest
from dclip_core.runtime.encoders import ClipEncoder

TEXTS = [*REFERENCE_TEXTS, "a diagram of a ViT", "Ünïcödé 😀 text", "x " * 100]


@pytest.fixture(scope="module")
def vit_b32(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, CLIP]]:
    """One ViT-B/32-size export for the module (random weights), and the torch model exported."""
    root = tmp_path_factory.mktemp("vit-b-32")
    model = create_clip("random-vit-b-32")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DCLIP_HOME", str(root / "home"))
        manifest = write_bundle(model, get_model_spec("random-vit-b-32"), root / "bundle")
    yield manifest.path, model
    shutil.rmtree(root)  # ~600 MB: do not keep it around for pytest's last three runs


@pytest.mark.slow
def test_vit_b32_onnx_matches_open_clip(vit_b32: tuple[Path, CLIP]) -> None:
    bundle, model = vit_b32
    encoder = ClipEncoder.load(bundle, provider="cpu")
    pre = encoder.manifest.image.preprocess
    transform = open_clip.image_transform(
        pre.size, is_train=False, mean=pre.mean, std=pre.std, resize_mode=pre.resize_mode
    )
    images = reference_images(6)
    images.append(images[2].convert("L"))
    with torch.no_grad():
        pixels = torch.stack([transform(image) for image in images])
        torch_images = model.encode_image(pixels, normalize=True).numpy()
        torch_texts = model.encode_text(open_clip.tokenize(TEXTS), normalize=True).numpy()
    onnx_images = encoder.embed_images(images)
    onnx_texts = encoder.embed_texts(TEXTS)
    assert onnx_images.shape == (len(images), 512)
    assert row_cosines(onnx_images, torch_images).min() >= 0.9999
    assert row_cosines(onnx_texts, torch_texts).min() >= 0.9999
    parity = load_manifest(bundle).provenance["parity"]
    assert parity["image_min_cosine"] >= 0.9999
    assert parity["text_min_cosine"] >= 0.9999


@pytest.mark.parametrize("pool_type", ["argmax", "eos", "first", "last"])
def test_text_tower_pools_like_open_clip(pool_type: str) -> None:
    model = create_clip("test-tiny")
    model.text_pool_type = pool_type
    model.text_eos_id = 49407
    tokens = open_clip.tokenize(TEXTS)
    with torch.no_grad():
        ours, states = TextTowerForExport(model)(tokens)
        theirs = model.encode_text(tokens, normalize=True)
    assert states.shape == (len(TEXTS), 77, 32)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_eos_pooled_text_tower_exports_to_onnx(tmp_path: Path) -> None:
    model = create_clip("test-tiny")
    model.text_pool_type = "eos"
    model.text_eos_id = 49407
    export_text_tower(model, 77, tmp_path / "text.onnx")
    session = ort.InferenceSession(str(tmp_path / "text.onnx"), providers=["CPUExecutionProvider"])
    tokens = open_clip.tokenize(TEXTS)
    (embeddings,) = session.run(["embeddings"], {"input_ids": tokens.numpy()})
    with torch.no_grad():
        expected = model.encode_text(tokens, normalize=True).numpy()
    assert row_cosines(np.asarray(embeddings), expected).min() >= 0.9999
