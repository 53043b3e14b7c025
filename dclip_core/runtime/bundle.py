"""Model bundles: the folder format that carries exported encoders from training to the app.

A bundle is a folder with ``bundle.json`` (this module's :class:`BundleManifest`), the ONNX files of
the image and text towers, optional quantised variants, and the tokenizer vocabulary (layout in
DESIGN.md §4). :func:`load_manifest` refuses anything it cannot trust: another format, a format
version this DCLIP does not read, a file that is missing or whose sha256 differs from the manifest.

Hash checks are remembered between loads (:mod:`dclip_core.runtime.bundle_verify`), so a search
does not re-hash hundreds of megabytes each time it starts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, cast

from dclip_core.config.paths import get_paths
from dclip_core.errors import BundleError
from dclip_core.runtime.bundle_verify import sha256_file, verify_files
from dclip_core.runtime.preprocess import ImagePreprocess

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_FORMAT_VERSION",
    "MANIFEST_NAME",
    "TOKENIZER_FILE",
    "VARIANTS",
    "BundleKind",
    "BundleManifest",
    "BundleVariant",
    "ImageTower",
    "TextTower",
    "load_manifest",
    "resolve_bundle",
    "sha256_file",
]

BUNDLE_FORMAT = "dclip-bundle"
BUNDLE_FORMAT_VERSION = 1
MANIFEST_NAME = "bundle.json"
TOKENIZER_FILE = "tokenizer/bpe_simple_vocab_16e6.txt.gz"

BundleKind = Literal["clip", "dclip-student"]
_KINDS: tuple[str, ...] = ("clip", "dclip-student")
# fp32 is the base model; other variants are optional extra files next to it.
VARIANTS: tuple[str, ...] = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class ImageTower:
    """The image encoder of a bundle and the preprocessing its inputs need."""

    file: str
    preprocess: ImagePreprocess


@dataclass(frozen=True)
class TextTower:
    """The text encoder of a bundle: context length, tokenizer vocabulary file, and the wording
    search queries are put in (``query_template``, ``"a {}"``; None = as typed)."""

    file: str
    context_length: int
    tokenizer: str
    query_template: str | None = None

    def query_text(self, text: str) -> str:
        """``text`` as the model should read it: in the template, unless already worded so.

        ``"red circle"`` -> ``"a red circle"`` for ``"a {}"``; ``"a red circle"`` stays.
        """
        if not self.query_template or "{}" not in self.query_template:
            return text
        prefix, suffix = self.query_template.split("{}", 1)
        stripped = text.strip()
        lower = stripped.lower()
        if lower.startswith(prefix.lower()) and lower.endswith(suffix.lower()):
            return stripped
        return f"{prefix}{stripped}{suffix}"


@dataclass(frozen=True)
class BundleVariant:
    """An optional re-encoding of both towers (``int8``, ``fp16``) and its measured quality.

    ``quality`` holds the mean cosine similarity to the fp32 towers on the exporter's fixed
    reference images and texts (``image_mean_cosine``, ``text_mean_cosine``).
    """

    image: str
    text: str
    quality: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class BundleManifest:
    """The parsed ``bundle.json`` of a bundle folder.

    Attributes:
        path: the bundle folder (absolute).
        name: display name of the model.
        kind: ``"clip"`` for an exported CLIP, ``"dclip-student"`` for a distilled student.
        model_spec: registry name of the architecture (``"test-tiny"``, ``"clip-vit-b-32"``).
        base_model: origin of the weights, e.g. ``"ViT-B-32/openai"``.
        embed_dim: size of the embeddings both towers return.
        meaningless: True for random-weight models (their results are noise).
        files: sha256 of every file of the bundle, by path relative to the folder.
        explain: what the visualizer needs (filled by the method's exporter), or None.
        provenance: who exported it, from what, and any recipe / metrics.
        created: ISO-8601 UTC time of the export.
    """

    path: Path
    name: str
    kind: BundleKind
    model_spec: str
    base_model: str
    embed_dim: int
    meaningless: bool
    image: ImageTower
    text: TextTower
    files: dict[str, str]
    variants: dict[str, BundleVariant] = field(default_factory=dict)
    explain: dict[str, Any] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    @property
    def fingerprint(self) -> str:
        """A short stable id of the fp32 model: what the library keys embeddings by."""
        return self.variant_fingerprint("fp32")

    def variant_fingerprint(self, variant: str = "fp32") -> str:
        """16 hex chars identifying what produces embeddings with ``variant``.

        Covers the digests of the two towers and the tokenizer, and the preprocessing settings,
        since changing any of them changes the vectors; the name, dates and provenance do not.
        """
        image_file, text_file = self.tower_files(variant)
        identity = {
            "image": self.files[image_file],
            "text": self.files[text_file],
            "tokenizer": self.files[self.text.tokenizer],
            "preprocess": self.image.preprocess.to_json(),
            "context_length": self.text.context_length,
        }
        canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def tower_files(self, variant: str = "fp32") -> tuple[str, str]:
        """Relative paths of the (image, text) ONNX files of ``variant``.

        Raises:
            BundleError: the bundle was exported without that variant.
        """
        if variant == "fp32":
            return self.image.file, self.text.file
        if variant not in self.variants:
            have = ", ".join(["fp32", *self.variants]) or "fp32"
            flag = (
                f" (re-export with `dclip export ... --{variant}`)" if variant in VARIANTS else ""
            )
            raise BundleError(f"bundle {self.path} has no {variant!r} variant; it has {have}{flag}")
        chosen = self.variants[variant]
        return chosen.image, chosen.text

    def file_path(self, relative: str) -> Path:
        """Absolute path of a file of the bundle."""
        return self.path / relative

    def to_json(self) -> dict[str, Any]:
        """The ``bundle.json`` content, in the documented key order."""
        return {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_FORMAT_VERSION,
            "name": self.name,
            "kind": self.kind,
            "model_spec": self.model_spec,
            "base_model": self.base_model,
            "embed_dim": self.embed_dim,
            "meaningless": self.meaningless,
            "image": {"file": self.image.file, "preprocess": self.image.preprocess.to_json()},
            "text": {
                "file": self.text.file,
                "context_length": self.text.context_length,
                "tokenizer": self.text.tokenizer,
                "query_template": self.text.query_template,
            },
            "variants": {
                name: {"image": v.image, "text": v.text, "quality": dict(v.quality)}
                for name, v in self.variants.items()
            },
            "explain": self.explain,
            "files": dict(sorted(self.files.items())),
            "provenance": self.provenance,
            "created": self.created,
        }


def resolve_bundle(name_or_path: str | Path) -> Path:
    """Find a bundle folder from a path or a name under the bundles folder.

    Args:
        name_or_path: a folder containing ``bundle.json``, the ``bundle.json`` itself, or the name
            of a bundle in ``get_paths().bundles_dir`` (where ``dclip export`` and first use of a
            registered model put them).

    Returns:
        The absolute bundle folder.

    Raises:
        BundleError: nothing that looks like a bundle is there.
    """
    candidate = Path(name_or_path).expanduser()
    if candidate.name == MANIFEST_NAME and candidate.is_file():
        return candidate.parent.resolve()
    if (candidate / MANIFEST_NAME).is_file():
        return candidate.resolve()
    as_text = str(name_or_path)
    looks_like_name = "/" not in as_text and "\\" not in as_text and not as_text.startswith(".")
    if looks_like_name:
        named = get_paths().bundles_dir / as_text
        if (named / MANIFEST_NAME).is_file():
            return named.resolve()
    candidate = candidate.absolute()
    if candidate.is_dir():
        raise BundleError(
            f"{candidate} is not a model bundle (no {MANIFEST_NAME}); export one with "
            "`dclip export --model NAME --out DIR`"
        )
    where = f" or {get_paths().bundles_dir / as_text}" if looks_like_name else ""
    raise BundleError(
        f"no model bundle at {candidate}{where}; "
        "export one with `dclip export --model NAME --out DIR`"
    )


def load_manifest(bundle: str | Path, *, verify: bool = True) -> BundleManifest:
    """Read and check a bundle's ``bundle.json``.

    Args:
        bundle: a bundle folder, its ``bundle.json``, or a bundle name (see :func:`resolve_bundle`).
        verify: check every file's sha256 (cached per file, see the module docstring). Only tools
            that inspect a bundle without running it should pass False.

    Raises:
        BundleError: missing bundle, unreadable or malformed manifest, another format or format
            version, a listed file missing, or a file whose content does not match its sha256.
    """
    folder = resolve_bundle(bundle)
    manifest_path = folder / MANIFEST_NAME
    try:
        raw_text = manifest_path.read_text(encoding="utf-8")
        data = json.loads(raw_text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(
            f"cannot read {manifest_path} ({exc}); re-export the bundle with `dclip export`"
        ) from exc
    manifest = _parse_manifest(folder, data)
    if verify:
        manifest_digest = hashlib.sha256(raw_text.encode("utf-8")).hexdigest()
        verify_files(manifest.path, manifest.files, manifest_digest)
    return manifest


def _parse_manifest(folder: Path, data: Any) -> BundleManifest:
    where = folder / MANIFEST_NAME
    if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"{where} is not a DCLIP model bundle manifest (format must be {BUNDLE_FORMAT!r})"
        )
    version = data.get("format_version")
    if version != BUNDLE_FORMAT_VERSION:
        if isinstance(version, int) and version > BUNDLE_FORMAT_VERSION:
            action = "upgrade DCLIP to load it"
        else:
            action = "re-export it with `dclip export`"
        raise BundleError(
            f"{where} has bundle format version {version!r}, this DCLIP reads version "
            f"{BUNDLE_FORMAT_VERSION}; {action}"
        )
    try:
        image = data["image"]
        text = data["text"]
        pre = image["preprocess"]
        manifest = BundleManifest(
            path=folder,
            name=str(data["name"]),
            kind=_checked_kind(data["kind"]),
            model_spec=str(data["model_spec"]),
            base_model=str(data["base_model"]),
            embed_dim=int(data["embed_dim"]),
            meaningless=bool(data.get("meaningless", False)),
            image=ImageTower(
                file=_relative_file(image["file"]),
                preprocess=ImagePreprocess(
                    size=int(pre["size"]),
                    mean=_triple(pre["mean"]),
                    std=_triple(pre["std"]),
                    resize_mode=pre["resize_mode"],
                    interpolation=pre["interpolation"],
                ),
            ),
            text=TextTower(
                file=_relative_file(text["file"]),
                context_length=int(text["context_length"]),
                tokenizer=_relative_file(text["tokenizer"]),
                query_template=_query_template(text.get("query_template")),
            ),
            variants={
                str(name): BundleVariant(
                    image=_relative_file(v["image"]),
                    text=_relative_file(v["text"]),
                    quality={str(k): float(q) for k, q in (v.get("quality") or {}).items()},
                )
                for name, v in (data.get("variants") or {}).items()
            },
            explain=data.get("explain"),
            files={_relative_file(k): str(v).lower() for k, v in data["files"].items()},
            provenance=dict(data.get("provenance") or {}),
            created=str(data.get("created", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(
            f"{where} is malformed ({type(exc).__name__}: {exc}); re-export it with `dclip export`"
        ) from exc
    if manifest.image.preprocess.resize_mode not in ("shortest", "longest", "squash") or (
        manifest.image.preprocess.interpolation not in ("bicubic", "bilinear")
    ):
        raise BundleError(f"{where} has unknown image preprocessing {pre!r}")
    referenced = [manifest.image.file, manifest.text.file, manifest.text.tokenizer]
    for variant in manifest.variants.values():
        referenced += [variant.image, variant.text]
    unlisted = [name for name in referenced if name not in manifest.files]
    if unlisted:
        raise BundleError(
            f"{where} uses {', '.join(unlisted)} without a sha256 for it; re-export the bundle"
        )
    return manifest


def _checked_kind(value: Any) -> BundleKind:
    if value not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(_KINDS)}, not {value!r}")
    return cast(BundleKind, value)


def _triple(values: Any) -> tuple[float, float, float]:
    first, second, third = (float(v) for v in values)
    return first, second, third


def _relative_file(name: Any) -> str:
    """A bundle file name: relative, forward slashes, never leaving the folder."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"file names must be non-empty strings, not {name!r}")
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or "\\" in name or ":" in name:
        raise ValueError(f"file {name!r} is not a plain path inside the bundle")
    return pure.as_posix()


def _query_template(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.count("{}") != 1:
        raise ValueError(f"query_template must be a text with one {{}}, not {value!r}")
    return value
