"""The conv image tower of ``shapes-tiny``: built from its spec, exported like any CLIP tower."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dclip_core.eval.embedders import TorchClipEmbedder
from dclip_core.export import export_model
from dclip_core.models.clip import create_clip
from dclip_core.models.conv_tower import ConvTower
from dclip_core.models.registry import get_model_spec
from dclip_core.runtime.encoders import ClipEncoder


def test_shapes_tiny_has_a_conv_tower_with_open_clips_attention_pool() -> None:
    model = create_clip("shapes-tiny")
    assert isinstance(model.visual, ConvTower)
    embeddings = model.encode_image(torch.rand(3, 3, 64, 64))
    assert embeddings.shape == (3, get_model_spec("shapes-tiny").embed_dim)
    # The placeholder tower open_clip builds first leaves nothing behind.
    assert all(
        name.startswith(("visual.stages.", "visual.attnpool."))
        for name in model.state_dict()
        if name.startswith("visual.")
    )
    again = create_clip("shapes-tiny")
    for (name, a), (_, b) in zip(
        model.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_conv_tower_configs_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValueError, match="not divisible by 2\\*\\*4"):
        ConvTower(image_size=72, widths=[8, 8, 8, 8], output_dim=16, head_width=8)
    with pytest.raises(ValueError, match="not a multiple of head_width 16"):
        ConvTower(image_size=64, widths=[8, 8, 8, 24], output_dim=16, head_width=16)
    spec = get_model_spec("shapes-tiny")
    config = {**spec.open_clip_config, "vision_cfg": {"tower": "capsule", "image_size": 64}}
    with pytest.raises(ValueError, match="unknown image tower 'capsule'"):
        create_clip(dataclasses.replace(spec, open_clip_config=config))


@pytest.mark.slow
def test_shapes_tiny_exports_to_onnx_and_embeds_like_torch(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    export_model("shapes-tiny", bundle)
    rng = np.random.default_rng(3)
    photos = []
    for i in range(4):
        photo = tmp_path / f"p{i}.png"
        Image.fromarray(rng.integers(0, 255, (96, 80, 3), dtype=np.uint8)).save(photo)
        photos.append(photo)

    onnx = ClipEncoder.load(bundle).embed_images(photos)

    model = create_clip("shapes-tiny")
    spec = get_model_spec("shapes-tiny")
    torch_embeddings = TorchClipEmbedder(
        "shapes-tiny", model, spec.preprocess, spec.context_length
    ).embed_images(photos)
    assert np.abs(onnx - torch_embeddings).max() < 1e-4
