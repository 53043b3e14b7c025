"""Real pretrained-looking weights for tests: test-tiny's architecture with other values.

The weights come from the test-tiny architecture initialised with another seed, so a model built
from them differs from plain ``create_clip("test-tiny")``: a test that gets the source model's
outputs back proves the file was really loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from dclip_core.models.clip import build_clip_architecture
from dclip_core.models.registry import ModelSpec, WeightsSource, get_model_spec

SOURCE_SEED = 99


@dataclass(frozen=True)
class TinyWeights:
    """A safetensors file of test-tiny-shaped weights, and what it holds."""

    path: Path
    sha256: str
    state_dict: dict[str, torch.Tensor]

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


def source_model() -> torch.nn.Module:
    """The model the weights file was saved from."""
    spec = dataclasses.replace(get_model_spec("test-tiny"), seed=SOURCE_SEED)
    return build_clip_architecture(spec).eval()


def write_tiny_weights(folder: Path) -> TinyWeights:
    """Save :func:`source_model`'s weights as ``folder/tiny.safetensors``."""
    state_dict = {
        k: v.detach().clone().contiguous() for k, v in source_model().state_dict().items()
    }
    path = folder / "tiny.safetensors"
    save_file(state_dict, str(path))
    return TinyWeights(
        path=path, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), state_dict=state_dict
    )


def tiny_spec_with_weights(
    name: str, *, urls: tuple[str, ...], sha256: str, filename: str = "tiny.safetensors"
) -> ModelSpec:
    """A test-tiny spec whose weights are a pinned, downloadable file (like the real models)."""
    return dataclasses.replace(
        get_model_spec("test-tiny"),
        name=name,
        description="test-tiny with downloadable weights (tests)",
        weights=WeightsSource(filename=filename, urls=urls, sha256=sha256, format="safetensors"),
        meaningless=False,  # stands for a real pretrained model
    )


def sample_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed image and token batches for comparing model outputs (independent of the global RNG)."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 64, 64, generator=generator)
    tokens = torch.randint(1, 49405, (2, 77), generator=generator)
    tokens[:, 0] = 49406  # start of text
    tokens[:, 10] = 49407  # end of text: open_clip pools at the highest token id
    tokens[:, 11:] = 0
    return images, tokens


def model_outputs(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``(encode_image, encode_text)`` of :func:`sample_inputs`."""
    images, tokens = sample_inputs()
    with torch.no_grad():
        return model.encode_image(images), model.encode_text(tokens)  # type: ignore[operator]
