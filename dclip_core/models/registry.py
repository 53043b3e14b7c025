"""Named model specs: the one place that says what ``clip-vit-b-32`` or ``test-tiny`` is.

A :class:`ModelSpec` carries the open_clip architecture config, where its weights come from (or that
it is randomly initialised), and the image/text preprocessing an exported bundle must reproduce.
Specs are looked up by name; new ones are added with :func:`register_model`, never by if/elif.
This module is torch-free so that ``dclip models list`` starts instantly.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from dclip_core.errors import UnknownModelError
from dclip_core.runtime.preprocess import ImagePreprocess

WeightsFormat = Literal["openai-jit", "safetensors", "state-dict"]

HUB_ENDPOINT = "https://huggingface.co"
"""The Hugging Face Hub; ``HF_ENDPOINT`` points DCLIP (and huggingface_hub) at a mirror instead."""


@dataclass(frozen=True)
class HubFile:
    """A file in a Hugging Face Hub model repository (what open_clip's ``hf_hub`` entries name).

    Attributes:
        repo_id: ``owner/name`` of the repository.
        filename: the file's path in the repository.
        revision: the commit to fetch (40 hex digits). None follows ``main``; the commit the first
            download resolved is then recorded in the cache and used by every later download.
    """

    repo_id: str
    filename: str
    revision: str | None = None

    def url(self, endpoint: str = HUB_ENDPOINT, revision: str | None = None) -> str:
        """The file's ``resolve`` URL (a browser downloads the file from it)."""
        rev = revision or self.revision or "main"
        return f"{endpoint.rstrip('/')}/{self.repo_id}/resolve/{rev}/{self.filename}"


@dataclass(frozen=True)
class WeightsSource:
    """One downloadable weights file, and where it comes from.

    Attributes:
        filename: its name in DCLIP's weights cache.
        urls: where a person (or, for a plain source, the downloader, in order) fetches it; for a
            Hub source, the Hub's ``resolve`` URL at the pinned revision, shown in messages.
        sha256: the pinned content hash; anything else is refused. None only for a Hub file
            whose hash is not published where DCLIP could read it: the sha256 the Hub declares for
            the LFS file at the revision is checked against the bytes and then recorded.
        format: the file format, for loading.
        size_bytes: the file's size when known (shown before downloading).
        hub: set for a file on the Hugging Face Hub, downloaded through huggingface_hub.
        label: who serves it, for messages ("Hugging Face Hub", "OpenAI CDN").
    """

    filename: str
    urls: tuple[str, ...]
    sha256: str | None
    format: WeightsFormat
    size_bytes: int | None = None
    hub: HubFile | None = None
    label: str = ""

    @property
    def where(self) -> str:
        """A short description of the source for messages: label and first URL."""
        url = self.urls[0] if self.urls else self.filename
        return f"{self.label} ({url})" if self.label else url

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "label": self.label,
            "urls": list(self.urls),
            "sha256": self.sha256,
            "format": self.format,
            "size_bytes": self.size_bytes,
            "hub": None
            if self.hub is None
            else {
                "repo_id": self.hub.repo_id,
                "filename": self.hub.filename,
                "revision": self.hub.revision,
            },
        }


def hub_weights(
    filename: str,
    hub: HubFile,
    *,
    sha256: str | None,
    format: WeightsFormat = "safetensors",
    size_bytes: int | None = None,
) -> WeightsSource:
    """A :class:`WeightsSource` served by the Hugging Face Hub."""
    return WeightsSource(
        filename=filename,
        urls=(hub.url(),),
        sha256=sha256,
        format=format,
        size_bytes=size_bytes,
        hub=hub,
        label="Hugging Face Hub",
    )


def parameters_signature(shapes: Mapping[str, Sequence[int]]) -> str:
    """sha256 of a state dict's parameter names and shapes (``name:d0,d1,...`` lines, sorted).

    Two files with the same signature hold the same parameters of the same architecture; the
    values may differ.
    """
    lines = "".join(f"{name}:{','.join(map(str, shapes[name]))}\n" for name in sorted(shapes))
    return hashlib.sha256(lines.encode()).hexdigest()


@dataclass(frozen=True)
class ModelSpec:
    """A named CLIP model: architecture, weights and preprocessing.

    Attributes:
        name: registry key, e.g. ``"clip-vit-b-32"``.
        description: one line for ``dclip models list``.
        base: human-readable origin recorded in bundles, e.g. ``"ViT-B-32/openai"``.
        open_clip_config: the open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``,
            optional ``quick_gelu``), as in open_clip's ``model_configs/*.json``.
        weights: where pretrained weights come from first; ``None`` means random init with ``seed``.
        fallback_weights: other files holding the same weights (another host, another format),
            tried in order when ``weights`` cannot be downloaded.
        seed: RNG seed of random init, so two processes build identical models.
        preprocess: image preprocessing of the model.
        meaningless: True when results are noise (random weights); every command using it says so.
        query_template: the wording the text tower was trained on, applied to search queries
            (``"a {}"``: the query "red circle" is encoded as "a red circle"); None = as typed.
        parameters_sha256: :func:`parameters_signature` of the architecture's state dict, so that
            a weights file can be recognised as this model's without torch (an imported Hub file
            whose own sha256 is not pinned); tested against the architecture for every spec.
    """

    name: str
    description: str
    base: str
    open_clip_config: dict[str, Any]
    weights: WeightsSource | None = None
    fallback_weights: tuple[WeightsSource, ...] = ()
    seed: int = 0
    preprocess: ImagePreprocess = field(default_factory=ImagePreprocess)
    meaningless: bool = False
    query_template: str | None = None
    parameters_sha256: str | None = None

    @property
    def embed_dim(self) -> int:
        return int(self.open_clip_config["embed_dim"])

    @property
    def context_length(self) -> int:
        return int(self.open_clip_config["text_cfg"].get("context_length", 77))

    @property
    def needs_download(self) -> bool:
        return self.weights is not None

    @property
    def weights_sources(self) -> tuple[WeightsSource, ...]:
        """Every file that can provide the weights, in the order they are tried."""
        return () if self.weights is None else (self.weights, *self.fallback_weights)

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
            "weights_sources": [source.to_json() for source in self.weights_sources],
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

# OpenAI's CDN, where the CLIP paper's weights were published as TorchScript archives, each under
# its own sha256. It has answered 404 since January 2025; it stays as the last resort (and names
# the file for anyone who kept a copy: `dclip models import` accepts it).
_OPENAI_CDN = "https://openaipublic.azureedge.net/clip/models"

# Where open_clip itself loads the OpenAI weights now (pretrained.py, `hf_hub` entries): timm's Hub
# repositories, as safetensors with open_clip's parameter names (fp32, 605 MB for B/32).
# The sha256 of open_clip_model.safetensors is not published anywhere DCLIP could read it when
# this was written, so it is not pinned here: the download trusts the sha256 the Hub declares for
# the LFS file at the revision (checked against the bytes, then recorded in the cache). B/32's
# revision is pinned; for B/16 no revision was known, so the first download records the commit
# `main` resolved to and every later download asks for that commit.
_B32_HUB = HubFile(
    repo_id="timm/vit_base_patch32_clip_224.openai",
    filename="open_clip_model.safetensors",
    revision="ab5b8ef490e86faa07d3523926b842c765de1de5",
)
_B16_HUB = HubFile(
    repo_id="timm/vit_base_patch16_clip_224.openai", filename="open_clip_model.safetensors"
)


def _openai_cdn_weights(filename: str, sha256: str, name: str) -> WeightsSource:
    return WeightsSource(
        filename=filename,
        urls=(f"{_OPENAI_CDN}/{sha256}/{name}",),
        sha256=sha256,
        format="openai-jit",
        label="OpenAI CDN",
    )


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
        weights=hub_weights("ViT-B-32-openai.safetensors", _B32_HUB, sha256=None),
        parameters_sha256="fc736bf8ad013391026152fcc52b2f40238e4be9b659077e40550b9b46fecfab",
        fallback_weights=(
            _openai_cdn_weights(
                "ViT-B-32-openai.pt",
                "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
                "ViT-B-32.pt",
            ),
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
        weights=hub_weights("ViT-B-16-openai.safetensors", _B16_HUB, sha256=None),
        parameters_sha256="0b0c13b65258c4cb3e95a720c1b32887dac4286d284f0cba9eb8225b020b1413",
        fallback_weights=(
            _openai_cdn_weights(
                "ViT-B-16-openai.pt",
                "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
                "ViT-B-16.pt",
            ),
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

# The shapes world's CLIP: small enough to pretrain from scratch on 2 CPU cores in
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
