"""Key bindings in the settings file: stored as the user changed them, older files still load."""

from __future__ import annotations

import json

import pytest

from dclip_core.config import Settings, get_paths, load_settings, save_settings
from dclip_core.errors import ConfigError


def test_shortcuts_round_trip() -> None:
    settings = Settings(shortcuts={"annotate.next_photo": "Right", "annotate.new_box": ""})
    path = save_settings(settings)
    assert json.loads(path.read_text())["shortcuts"] == {
        "annotate.next_photo": "Right",
        "annotate.new_box": "",
    }
    assert load_settings() == settings


def test_a_settings_file_without_shortcuts_loads_with_none_changed() -> None:
    path = get_paths().settings_file
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema_version": 1, "model": "test-tiny", "threads": 2}))
    loaded = load_settings()
    assert loaded.shortcuts == {}
    assert loaded.threads == 2
    assert Settings().shortcuts is not Settings().shortcuts  # no shared mutable default


@pytest.mark.parametrize("value", [["D"], {"annotate.next_photo": 4}, "D"])
def test_shortcuts_that_are_not_names_to_keys_are_refused(value: object) -> None:
    path = get_paths().settings_file
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema_version": 1, "shortcuts": value}))
    with pytest.raises(ConfigError, match="shortcuts"):
        load_settings()
