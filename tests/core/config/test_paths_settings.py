from __future__ import annotations

import json
from pathlib import Path

import pytest

from dclip_core.config import Settings, get_paths, load_settings, save_settings, settings_fields
from dclip_core.errors import ConfigError


def test_dclip_home_puts_every_folder_under_it(dclip_home: Path) -> None:
    paths = get_paths()
    for folder in (paths.config_dir, paths.data_dir, paths.cache_dir, paths.log_dir):
        assert folder.is_relative_to(dclip_home)
    assert paths.weights_dir.is_relative_to(dclip_home)


def test_settings_round_trip() -> None:
    settings = Settings(model="test-tiny", threads=3, exclude_patterns=["*/tmp/*"])
    path = save_settings(settings)
    assert json.loads(path.read_text())["schema_version"] == 1
    assert load_settings() == settings


def test_missing_settings_file_gives_defaults() -> None:
    assert load_settings() == Settings()


def test_corrupt_settings_file_is_reported_and_left_alone() -> None:
    path = get_paths().settings_file
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"settings\.json"):
        load_settings()
    assert path.read_text() == "{not json"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("threads", "four"),
        ("execution_provider", "tpu"),
        ("thumbnail_size", 5),
        ("index_hidden", 1),
    ],
)
def test_invalid_values_are_refused(key: str, value: object) -> None:
    path = get_paths().settings_file
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema_version": 1, key: value}))
    with pytest.raises(ConfigError, match=key):
        load_settings()


def test_newer_schema_version_is_refused() -> None:
    path = get_paths().settings_file
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(ConfigError, match="newer"):
        load_settings()


def test_every_setting_is_described() -> None:
    fields = settings_fields()
    assert fields[0].name == "model"
    for f in fields:
        assert f.label, f.name
        assert f.help, f.name
        if f.kind == "choice":
            assert f.default in f.choices
