"""Where DCLIP keeps its files, and the user's settings."""

from __future__ import annotations

from dclip_core.config.paths import Paths, atomic_write_bytes, atomic_write_text, get_paths
from dclip_core.config.settings import (
    SETTINGS_SCHEMA_VERSION,
    SettingField,
    Settings,
    load_settings,
    save_settings,
    settings_fields,
)

__all__ = [
    "SETTINGS_SCHEMA_VERSION",
    "Paths",
    "SettingField",
    "Settings",
    "atomic_write_bytes",
    "atomic_write_text",
    "get_paths",
    "load_settings",
    "save_settings",
    "settings_fields",
]
