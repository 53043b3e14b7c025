"""create_clip builds the same model every time, everywhere, without touching the caller's RNG."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dclip_core.models.clip import create_clip
from dclip_core.models.registry import get_model_spec
from tests.helpers.tiny_weights import model_outputs

REPO_ROOT = Path(__file__).resolve().parents[3]


def _parameter_digest(model: torch.nn.Module) -> str:
    hasher = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        hasher.update(name.encode())
        hasher.update(value.detach().contiguous().numpy().tobytes())
    return hasher.hexdigest()


def test_test_tiny_matches_its_spec() -> None:
    model = create_clip("test-tiny")
    spec = get_model_spec("test-tiny")

    image_embeddings, text_embeddings = model_outputs(model)

    assert not model.training
    assert image_embeddings.shape == text_embeddings.shape == (2, spec.embed_dim)
    assert image_embeddings.dtype == torch.float32


def test_test_tiny_is_the_same_on_every_call() -> None:
    first, second = create_clip("test-tiny"), create_clip(get_model_spec("test-tiny"))

    assert _parameter_digest(first) == _parameter_digest(second)
    for a, b in zip(model_outputs(first), model_outputs(second), strict=True):
        assert torch.equal(a, b)


def test_building_a_model_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(2024)
    expected = torch.rand(5)
    torch.manual_seed(2024)

    create_clip("test-tiny")

    assert torch.equal(torch.rand(5), expected)


@pytest.mark.slow
def test_test_tiny_is_the_same_in_another_process() -> None:
    script = (
        "import json, torch\n"
        "from tests.core.models.test_clip import _parameter_digest\n"
        "from tests.helpers.tiny_weights import model_outputs\n"
        "from dclip_core.models.clip import create_clip\n"
        "torch.manual_seed(1)  # another global seed must not matter\n"
        "model = create_clip('test-tiny')\n"
        "image, text = model_outputs(model)\n"
        "print(json.dumps({'digest': _parameter_digest(model), 'image': image.tolist(),"
        " 'text': text.tolist()}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    other = json.loads(result.stdout.strip().splitlines()[-1])

    model = create_clip("test-tiny")
    image, text = model_outputs(model)
    assert other["digest"] == _parameter_digest(model)
    torch.testing.assert_close(torch.tensor(other["image"]), image, rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.tensor(other["text"]), text, rtol=0, atol=1e-6)
