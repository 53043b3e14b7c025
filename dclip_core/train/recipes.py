"""Training recipes: every hyper-parameter of the two DCLIP stages, by name (torch-free).

``paper`` carries the values of DESIGN.md §6 (the authors' released code and README); ``quick`` is
a small run a laptop can finish. A recipe is overridden field by field, from a TOML file with
``[teacher]``, ``[student]`` and ``[data]`` tables and then from command-line flags::

    [teacher]
    lr = 3e-5
    epochs = 2

    [student]
    trainable = "vision"
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from dclip_core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

TrainableSet = Literal["attn-proj", "vision", "all"]
Schedule = Literal["constant", "cosine", "linear"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
SpanModeName = Literal["tokens", "phrases"]
SpanFeaturesName = Literal["token-states", "sentence"]
GroundingName = Literal["none", "contrastive", "linked"]


@dataclass(frozen=True)
class TeacherRecipe:
    """Stage 1: the cross-modal teacher on frozen CLIP features."""

    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-5
    weight_decay: float = 0.0
    batch_size: int = 32
    grad_accum: int = 1
    grad_clip: float | None = None
    epochs: int = 5
    schedule: Schedule = "constant"
    warmup_steps: int = 0
    temperature: float = 0.05
    heads: int = 8
    layers: int = 1
    ffn: bool = False
    paper_compat: bool = False
    pool_temperature: float = 2.0
    span_mode: SpanModeName = "tokens"
    # "fused" (the paper) or "regions": the target pools the attended regions only.
    target: Literal["fused", "regions"] = "fused"
    # How a span becomes a vector: the paper's pooled token states, or its text encoded as a
    # sentence of its own ("sentence": in the space the crops live in; docs/adr/0017).
    span_features: SpanFeaturesName = "token-states"
    # A term beside the paper's loss that makes the text→region attention point at the region a
    # span names (docs/adr/0017): "none" (the paper), "contrastive" (weak: FILIP-style over the
    # batch, no boxes needed) or "linked" (contrastive, plus cross-entropy towards the box a span
    # names where box labels say so).
    grounding: GroundingName = "none"
    grounding_weight: float = 1.0


@dataclass(frozen=True)
class StudentRecipe:
    """Stage 2: the student CLIP distilled with the hybrid loss."""

    optimizer: Literal["adam", "adamw"] = "adamw"
    lr: float = 1e-6
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    batch_size: int = 32
    grad_accum: int = 4
    grad_clip: float | None = 0.5
    epochs: int = 2
    schedule: Schedule = "constant"
    warmup_steps: int = 0
    temperature: float = 0.05
    w_img: float = 1.0
    w_txt: float = 1.0
    w_con: float = 1.0
    # Weight of the hard-negative term (not in the paper; 0 leaves the paper's loss as it is):
    # each image must prefer its caption to the caption with one binding swapped.
    w_neg: float = 0.0
    trainable: TrainableSet = "attn-proj"
    train_text: bool = False


@dataclass(frozen=True)
class DataRecipe:
    """How training data is drawn."""

    val_fraction: float = 0.1
    captions_per_step: Literal["random-one"] = "random-one"
    detector: str = "yolov8x"
    detector_conf: float = 0.25
    max_regions: int | None = None
    region_source: Literal["yolo", "gt", "yolo+gt"] = "yolo"


@dataclass(frozen=True)
class Recipe:
    """A named set of training values; run records keep a copy of the recipe they used."""

    name: str
    seed: int = 42
    precision: Precision = "auto"
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    teacher: TeacherRecipe = field(default_factory=TeacherRecipe)
    student: StudentRecipe = field(default_factory=StudentRecipe)
    data: DataRecipe = field(default_factory=DataRecipe)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recipe:
        base = Recipe(name=str(data.get("name", "custom")))
        return apply_overrides(base, {k: v for k, v in data.items() if k != "name"}, "saved run")


RECIPES: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe) -> Recipe:
    RECIPES[recipe.name] = recipe
    return recipe


# The paper's values are the dataclass defaults, so `paper` is simply the defaults.
register_recipe(Recipe(name="paper"))
register_recipe(
    Recipe(
        name="quick",
        checkpoint_every=50,
        teacher=TeacherRecipe(lr=1e-4, batch_size=16, epochs=2),
        student=StudentRecipe(lr=1e-5, batch_size=16, grad_accum=1, epochs=1),
        data=DataRecipe(detector="yolov8n", max_regions=16),
    )
)


def get_recipe(name: str) -> Recipe:
    """A registered recipe by name.

    Raises:
        ConfigError: unknown name, with the known ones listed.
    """
    try:
        return RECIPES[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(RECIPES), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown recipe {name!r}; {hint}known recipes: {', '.join(sorted(RECIPES))}"
        ) from None


def _coerce(value: Any, current: Any, where: str) -> Any:
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if isinstance(current, tuple):
        return tuple(float(v) for v in value)
    if value is None or current is None:
        return value if not isinstance(value, str) or value.lower() != "none" else None
    try:
        return type(current)(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a {type(current).__name__}, got {value!r}") from None


def _override_section(section: Any, values: Mapping[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(section)}
    hints = get_type_hints(type(section))
    changes: dict[str, Any] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown setting {key!r}{hint}")
        value = _coerce(value, getattr(section, name), f"{where}: {key}")
        if get_origin(hints[name]) is Literal and value not in get_args(hints[name]):
            choices = ", ".join(repr(c) for c in get_args(hints[name]))
            raise ConfigError(f"{where}: {key} must be one of {choices}, got {value!r}")
        changes[name] = value
    return replace(section, **changes)


def apply_overrides(recipe: Recipe, overrides: Mapping[str, Any], where: str) -> Recipe:
    """Return ``recipe`` with ``overrides`` applied.

    Args:
        overrides: top-level values (``seed``, ``precision`` …) and ``teacher``/``student``/
            ``data`` tables, as read from TOML or JSON.
        where: names the source in error messages (a file path, "command line").

    Raises:
        ConfigError: unknown keys or values of the wrong type.
    """
    sections = {"teacher", "student", "data"}
    top: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in sections:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: [{key}] must be a table")
            nested[key] = _override_section(getattr(recipe, key), value, f"{where} [{key}]")
        else:
            top[key] = value
    recipe = replace(recipe, **nested)
    return _override_section(recipe, top, where) if top else recipe


def load_recipe(
    name: str = "paper",
    toml_path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Recipe:
    """The named recipe, then a TOML file's values, then explicit overrides (e.g. CLI flags).

    Raises:
        ConfigError: unknown recipe, unreadable or invalid TOML, unknown keys.
    """
    recipe = get_recipe(name)
    if toml_path is not None:
        try:
            data = tomllib.loads(Path(toml_path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read recipe file {toml_path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"recipe file {toml_path} is not valid TOML: {exc}") from exc
        recipe = apply_overrides(recipe, data, str(toml_path))
    if overrides:
        recipe = apply_overrides(recipe, overrides, "command line")
    return recipe
