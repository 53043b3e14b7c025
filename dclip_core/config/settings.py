"""The user's settings: one declarative list of typed fields, stored as versioned JSON.

The Settings dialog is generated from :func:`settings_fields`, so adding a setting here is all it
takes to show it in the app. A settings file that cannot be read is left untouched (renamed aside
only when the user saves new settings) and the defaults are used, with the reason reported.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dclip_core.config.paths import Paths, atomic_write_text, get_paths
from dclip_core.errors import ConfigError

SETTINGS_SCHEMA_VERSION = 1

# "keys": key bindings by action name ({"annotate.next_photo": "D"}); only the ones the user
# changed are stored, so a new default reaches everyone who kept the old one.
SettingKind = Literal["str", "int", "float", "bool", "choice", "path", "list", "keys"]


@dataclass(frozen=True)
class SettingField:
    """How one setting is shown and checked."""

    name: str
    label: str
    help: str
    kind: SettingKind
    default: Any
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


def _setting(
    default: Any,
    label: str,
    help: str,
    kind: SettingKind,
    *,
    choices: tuple[str, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
) -> Any:
    meta = {
        "label": label,
        "help": help,
        "kind": kind,
        "choices": choices,
        "minimum": minimum,
        "maximum": maximum,
    }
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Settings:
    """Everything the user can change. Field order is the order of the Settings dialog."""

    model: str = _setting(
        "clip-vit-b-32",
        "Model",
        "Registered model name or path of an exported model bundle used for indexing and search.",
        "str",
    )
    execution_provider: str = _setting(
        "auto",
        "Execution provider",
        "Where ONNX Runtime runs the encoders. 'auto' uses CUDA when it works, else the CPU.",
        "choice",
        choices=("auto", "cpu", "cuda"),
    )
    threads: int = _setting(
        0,
        "CPU threads",
        "Threads for ONNX Runtime on the CPU; 0 lets it choose.",
        "int",
        minimum=0,
        maximum=256,
    )
    thumbnail_size: int = _setting(
        256,
        "Thumbnail size",
        "Longest side of cached thumbnails, in pixels.",
        "int",
        minimum=64,
        maximum=1024,
    )
    relevance_sensitivity: float = _setting(
        3.0,
        "Relevance cutoff",
        "How close to the best match a result must score to count as relevant: the top "
        "1/(1+value) of the way down to the library's typical score. Lower shows more results.",
        "float",
        minimum=0.0,
        maximum=10.0,
    )
    exclude_patterns: list[str] = _setting(
        [],
        "Excluded patterns",
        "Glob patterns of files and folders never indexed, e.g. '*/Screenshots/*'.",
        "list",
    )
    index_hidden: bool = _setting(
        False, "Index hidden folders", "Also index folders whose names start with a dot.", "bool"
    )
    shortcuts: dict[str, str] = _setting(
        {},
        "Keyboard shortcuts",
        "Keys of the annotation window. Click a field and press the new key; its clear button "
        "leaves the action without one. Only the keys you change are stored.",
        "keys",
    )


def settings_fields() -> list[SettingField]:
    """The declarative list of settings, in display order."""
    out = []
    for f in dataclasses.fields(Settings):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
        m = f.metadata
        out.append(
            SettingField(
                name=f.name,
                label=m["label"],
                help=m["help"],
                kind=m["kind"],
                default=default,
                choices=m["choices"],
                minimum=m["minimum"],
                maximum=m["maximum"],
            )
        )
    return out


def _coerce(spec: SettingField, value: Any) -> Any:
    """Check one stored value against its field; raise ValueError when it does not fit."""
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{spec.name} must be true or false")
        return value
    if spec.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{spec.name} must be an integer")
    elif spec.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{spec.name} must be a number")
        value = float(value)
    elif spec.kind == "keys":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ValueError(f"{spec.name} must map action names to key sequences (strings)")
        return dict(value)
    elif spec.kind == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{spec.name} must be a list of strings")
        return list(value)
    elif not isinstance(value, str):
        raise ValueError(f"{spec.name} must be a string")
    if spec.kind == "choice" and value not in spec.choices:
        raise ValueError(f"{spec.name} must be one of {', '.join(spec.choices)}")
    if spec.minimum is not None and value < spec.minimum:
        raise ValueError(f"{spec.name} must be at least {spec.minimum}")
    if spec.maximum is not None and value > spec.maximum:
        raise ValueError(f"{spec.name} must be at most {spec.maximum}")
    return value


def settings_from_dict(data: dict[str, Any]) -> Settings:
    """Build settings from a stored mapping; unknown keys are ignored, bad values raise."""
    version = data.get("schema_version", SETTINGS_SCHEMA_VERSION)
    if not isinstance(version, int) or version > SETTINGS_SCHEMA_VERSION:
        raise ValueError(
            f"schema_version {version!r} is newer than this DCLIP understands "
            f"({SETTINGS_SCHEMA_VERSION}); upgrade DCLIP"
        )
    values = {}
    for spec in settings_fields():
        if spec.name in data:
            values[spec.name] = _coerce(spec, data[spec.name])
    return Settings(**values)


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    return {"schema_version": SETTINGS_SCHEMA_VERSION, **dataclasses.asdict(settings)}


def load_settings(paths: Paths | None = None) -> Settings:
    """Read the settings file; missing means defaults.

    Raises:
        ConfigError: the file exists but is not valid settings. The file is left as it is.
    """
    path = (paths or get_paths()).settings_file
    if not path.exists():
        return Settings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("top level must be an object")
        return settings_from_dict(data)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"settings file {path} is unusable ({exc}); fix it or delete it to use the defaults"
        ) from exc


def save_settings(settings: Settings, paths: Paths | None = None) -> Path:
    """Validate and write the settings atomically; returns the file written."""
    data = settings_to_dict(settings)
    settings_from_dict(data)  # refuse to write what we could not read back
    path = (paths or get_paths()).settings_file
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path
