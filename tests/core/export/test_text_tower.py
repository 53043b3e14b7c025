"""The dynamic-length text tower: one ONNX graph for every length, equal to open_clip's tower."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort
import pytest

from dclip_core.export.onnx_export import export_text_tower
from dclip_core.export.reference_inputs import row_cosines
from dclip_core.export.text_tower import dynamic_length_blocker
from dclip_core.runtime.encoders import trimmed_length
from dclip_core.runtime.session import choose_provider, create_session, input_is_dynamic

if TYPE_CHECKING:
    from open_clip import CLIP

EOT = 49407
SHORT = ["a dog", "sunset", ""]
LONG = ["two children playing football on a wet beach at sunset, seen from the dunes behind"]
TRUNCATED = ["word " * 200]  # cut at the context length: its end token is the last position
MIXED = SHORT + LONG + TRUNCATED


def _torch_outputs(model: CLIP, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """open_clip's normalised sentence embeddings and projected token states at full length."""
    import open_clip
    import torch

    tokens = open_clip.tokenize(texts)
    with torch.no_grad():
        sentence = model.encode_text(tokens, normalize=True).numpy()
        x = model.token_embedding(tokens) + model.positional_embedding
        x = model.transformer(x, attn_mask=model.attn_mask)
        states = (model.ln_final(x) @ model.text_projection).numpy()
    return sentence, states, tokens.numpy()


def _check_parity(model: CLIP, path: Path) -> None:
    session = create_session(path, choose_provider("cpu"))
    assert input_is_dynamic(session, "input_ids", 1)
    for texts in (SHORT, LONG, TRUNCATED, MIXED):
        expected, expected_states, ids = _torch_outputs(model, texts)
        length = trimmed_length(ids, EOT)
        embeddings, states = session.run(None, {"input_ids": ids[:, :length]})
        assert row_cosines(embeddings, expected).min() >= 0.9999, texts
        np.testing.assert_allclose(states, expected_states[:, :length], atol=1e-4)
    # Every length from 1 to the context runs (no length was baked into the graph).
    _, _, ids = _torch_outputs(model, MIXED)
    for length in (1, 2, 9, 40, 77):
        out, _ = session.run(None, {"input_ids": ids[:, :length]})
        assert out.shape == (len(MIXED), model.text_projection.shape[1])


@pytest.fixture(scope="module")
def tiny_model() -> CLIP:
    from dclip_core.models.clip import create_clip

    return create_clip("test-tiny")


def test_tiny_tower_matches_open_clip_at_every_trimmed_length(
    tiny_model: CLIP, tmp_path: Path
) -> None:
    path = tmp_path / "text.onnx"
    assert export_text_tower(tiny_model, 77, path) is True
    _check_parity(tiny_model, path)


@pytest.mark.slow
def test_vit_b_32_tower_matches_open_clip_at_every_trimmed_length(tmp_path: Path) -> None:
    from dclip_core.models.clip import create_clip

    model = create_clip("random-vit-b-32")
    path = tmp_path / "text.onnx"
    assert export_text_tower(model, 77, path) is True
    _check_parity(model, path)


def test_trimming_shortens_typical_queries_several_fold(tiny_model: CLIP) -> None:
    _, _, ids = _torch_outputs(tiny_model, ["a red car parked in the rain", "snowy mountains"])
    longest = int((ids != 0).sum(axis=1).max())  # start, BPE tokens, end of the longer caption
    assert trimmed_length(ids, EOT) == longest == 9  # of 77 positions


def test_fixed_length_export_keeps_the_old_graph(tiny_model: CLIP, tmp_path: Path) -> None:
    path = tmp_path / "text.onnx"
    assert export_text_tower(tiny_model, 77, path, dynamic_length=False) is False
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", 77]
    expected, _, ids = _torch_outputs(tiny_model, MIXED)
    (embeddings,) = session.run(["embeddings"], {"input_ids": ids})
    assert row_cosines(embeddings, expected).min() >= 0.9999


def test_towers_that_trimming_would_change_are_exported_with_a_fixed_length(
    tmp_path: Path,
) -> None:
    from dclip_core.models.clip import create_clip

    model = create_clip("test-tiny")
    model.text_pool_type = "last"  # reads position 76, which trimming would move
    assert "last position" in (dynamic_length_blocker(model) or "")
    path = tmp_path / "last.onnx"
    assert export_text_tower(model, 77, path) is False
    assert not input_is_dynamic(create_session(path, choose_provider("cpu")), "input_ids", axis=1)

    bidirectional = create_clip("test-tiny")
    bidirectional.attn_mask = None  # every token sees the padding: trimming changes outputs
    assert "not causal" in (dynamic_length_blocker(bidirectional) or "")
