"""Named model specs: the one place that says what ``clip-vit-b-32`` or ``test-tiny`` is.

A :class:`ModelSpec` carries the open_clip architecture config, where its weights come from (or that
it is randomly initialised), and the image/text preprocessing an exported bundle must reproduce.
Specs are looked up by name; new ones are added with :func:`register_model`, never by if/elif.
This module is torch-free so that ``dclip models list`` starts instantly.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Literal

from dclip_core.errors import UnknownModelError

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

WeightsFormat = Literal["openai-jit", "safetensors", "state-dict"]


@dataclass(frozen=True)
class ImagePreprocess:
    """Inference preprocessing, as open_clip's ``image_transform(is_train=False)`` does it."""

    size: int = 224
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD
    resize_mode: Literal["shortest", "longest", "squash"] = "shortest"
    interpolation: Literal["bicubic", "bilinear"] = "bicubic"

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "mean": list(self.mean),
            "std": list(self.std),
            "resize_mode": self.resize_mode,
            "interpolation": self.interpolation,
        }


@dataclass(frozen=True)
class WeightsSource:
    """One downloadable weights file. ``urls`` are tried in order; ``sha256`` pins the content."""

    filename: str
    urls: tuple[str, ...]
    sha256: str
    format: WeightsFormat
    size_bytes: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A named CLIP model: architecture, weights and preprocessing.

    Attributes:
        name: registry key, e.g. ``"clip-vit-b-32"``.
        description: one line for ``dclip models list``.
        base: human-readable origin recorded in bundles, e.g. ``"ViT-B-32/openai"``.
        open_clip_config: the open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``,
            optional ``quick_gelu``), as in open_clip's ``model_configs/*.json``.
        weights: where pretrained weights come from; ``None`` means random init with ``seed``.
        seed: RNG seed of random init, so two processes build identical models.
        preprocess: image preprocessing of the model.
        meaningless: True when results are noise (random weights); every command using it says so.
        query_template: the wording the text tower was trained on, applied to search queries
            (``"a {}"``: the query "red circle" is encoded as "a red circle"); None = as typed.
    """

    name: str
    description: str
    base: str
    open_clip_config: dict[str, Any]
    weights: WeightsSource | None = None
    seed: int = 0
    preprocess: ImagePreprocess = field(default_factory=ImagePreprocess)
    meaningless: bool = False
    query_template: str | None = None

    @property
    def embed_dim(self) -> int:
        return int(self.open_clip_config["embed_dim"])

    @property
    def context_length(self) -> int:
        return int(self.open_clip_config["text_cfg"].get("context_length", 77))

    @property
    def needs_download(self) -> bool:
        return self.weights is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "base": self.base,
            "embed_dim": self.embed_dim,
            "context_length": self.context_length,
            "image_size": self.preprocess.size,
            "pretrained": self.weights is not None,
            "weights_file": self.weights.filename if self.weights else None,
            "weights_sha256": self.weights.sha256 if self.weights else None,
            "weights_urls": list(self.weights.urls) if self.weights else [],
            "meaningless": self.meaningless,
            "query_template": self.query_template,
        }


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add ``spec`` to the registry (tests and plugins may add their own)."""
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get_model_spec(name: str) -> ModelSpec:
    """Look a spec up by name.

    Raises:
        UnknownModelError: with the closest known names as a hint.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(f"unknown model {name!r}{hint} (see `dclip models list`)") from None


def list_model_specs() -> list[ModelSpec]:
    return list(_REGISTRY.values())


# --- the built-in models -------------------------------------------------------------------------

_TEXT_CFG_CLIP = {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}

_OPENAI_CDN = "https://openaipublic.azureedge.net/clip/models"

register_model(
    ModelSpec(
        name="clip-vit-b-32",
        description="CLIP ViT-B/32, OpenAI weights (default; fast on a laptop CPU)",
        base="ViT-B-32/openai",
        open_clip_config={
            "embed_dim": 512,
            "quick_gelu": True,
            "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
            "text_cfg": dict(_TEXT_CFG_CLIP),
        },
        weights=WeightsSource(
            filename="ViT-B-32-openai.pt",
            urls=(
                f"{_OPENAI_CDN}/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
            ),
            # OpenAI publishes each file under its own sha256.
            sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
            format="openai-jit",
        ),
    )
)

register_model(
    ModelSpec(
        name="clip-vit-b-16",
        description="CLIP ViT-B/16, OpenAI weights (the paper's backbone; slower, more precise)",
        base="ViT-B-16/openai",
        open_clip_config={
            "embed_dim": 512,
            "quick_gelu": True,
            "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 16},
            "text_cfg": dict(_TEXT_CFG_CLIP),
        },
        weights=WeightsSource(
            filename="ViT-B-16-openai.pt",
            urls=(
                f"{_OPENAI_CDN}/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
            ),
            sha256="5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
            format="openai-jit",
        ),
    )
)

register_model(
    ModelSpec(
        name="random-vit-b-32",
        description="ViT-B/32 architecture, random init (benchmarks; meaningless results)",
        base="ViT-B-32/random",
        open_clip_config={
            "embed_dim": 512,
            "quick_gelu": True,
            "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
            "text_cfg": dict(_TEXT_CFG_CLIP),
        },
        seed=32,
        meaningless=True,
    )
)

register_model(
    ModelSpec(
        name="test-tiny",
        description="tiny random-init CLIP for tests (no download; results are meaningless)",
        base="test-tiny/random",
        open_clip_config={
            "embed_dim": 32,
            "vision_cfg": {
                "image_size": 64,
                "layers": 2,
                "width": 64,
                "patch_size": 16,
                "head_width": 32,
            },
            "text_cfg": {
                "context_length": 77,
                "vocab_size": 49408,
                "width": 64,
                "heads": 2,
                "layers": 2,
            },
        },
        seed=1234,
        preprocess=ImagePreprocess(size=64),
        meaningless=True,
    )
)

# The shapes world's CLIP (issue 5): small enough to pretrain from scratch on 2 CPU cores in
# minutes; `dclip bench shapes` and `dclip demo` train it (dclip_core.shapes.pretrain).
# The image tower is DCLIP's ConvTower (max-pooling conv stages + open_clip's attention pooling),
# not one of open_clip's: from scratch, a ViT this small stays at chance on shape and the CLIP
# paper's ModifiedResNet learns it several times slower (docs/adr/0013-conv-tower.md).
SHAPES_IMAGE_SIZE = 64
register_model(
    ModelSpec(
        name="shapes-tiny",
        description="small CPU CLIP for the shapes world, random init (pretrained by `dclip demo`)",
        base="shapes-tiny/random",
        open_clip_config={
            "embed_dim": 64,
            "vision_cfg": {
                "tower": "conv",
                "image_size": SHAPES_IMAGE_SIZE,
                "widths": [16, 32, 64, 64],
                "head_width": 32,
            },
            "text_cfg": {
                "context_length": 32,
                "vocab_size": 49408,
                "width": 64,
                "heads": 2,
                "layers": 2,
            },
        },
        seed=5,
        preprocess=ImagePreprocess(size=SHAPES_IMAGE_SIZE),
        meaningless=True,
        # Its captions read "a small red circle", "a red circle left of …": a bare "red circle"
        # is a wording it never saw (docs/benchmarks.md, "Region vectors").
        query_template="a {}",
    )
)
