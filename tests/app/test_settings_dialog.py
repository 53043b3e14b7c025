"""The Settings dialog is generated from the core schema and round-trips through the file."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QPlainTextEdit, QSpinBox
from pytestqt.qtbot import QtBot

from dclip_app.settings_dialog import SettingsDialog
from dclip_core.config import Settings, load_settings, settings_fields

pytestmark = pytest.mark.gui


def test_every_schema_field_has_an_editor_with_its_help(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    model = dialog.editors["model"].widget
    assert isinstance(model, QComboBox)
    # The registered models are offered, and any name or bundle path can still be typed.
    offered = [model.itemText(i) for i in range(model.count())]
    assert "clip-vit-b-32" in offered
    assert "test-tiny" in offered
    assert model.isEditable()
    assert list(dialog.editors) == [f.name for f in settings_fields()]
    for spec in settings_fields():
        assert dialog.editors[spec.name].widget.toolTip() == spec.help
    assert isinstance(dialog.editors["execution_provider"].widget, QComboBox)
    assert isinstance(dialog.editors["threads"].widget, QSpinBox)
    assert isinstance(dialog.editors["relevance_sensitivity"].widget, QDoubleSpinBox)
    assert isinstance(dialog.editors["exclude_patterns"].widget, QPlainTextEdit)
    assert isinstance(dialog.editors["index_hidden"].widget, QCheckBox)
    # Ranges come from the schema too.
    threads = dialog.editors["threads"].widget
    assert isinstance(threads, QSpinBox)
    assert (threads.minimum(), threads.maximum()) == (0, 256)


def test_edit_save_and_load_round_trip(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings(), suggestions={"model": ["test-tiny", "clip-vit-b-32"]})
    qtbot.addWidget(dialog)
    editors = dialog.editors
    model = editors["model"].widget
    assert isinstance(model, QComboBox)
    model.setCurrentText("test-tiny")
    provider = editors["execution_provider"].widget
    assert isinstance(provider, QComboBox)
    provider.setCurrentText("cpu")
    threads = editors["threads"].widget
    assert isinstance(threads, QSpinBox)
    threads.setValue(3)
    sensitivity = editors["relevance_sensitivity"].widget
    assert isinstance(sensitivity, QDoubleSpinBox)
    sensitivity.setValue(2.5)
    patterns = editors["exclude_patterns"].widget
    assert isinstance(patterns, QPlainTextEdit)
    patterns.setPlainText("*/Screenshots/*\n\n  *.tmp  \n")
    hidden = editors["index_hidden"].widget
    assert isinstance(hidden, QCheckBox)
    hidden.setChecked(True)

    dialog.accept()

    stored = load_settings()
    assert stored == dialog.saved
    assert stored.model == "test-tiny"
    assert stored.execution_provider == "cpu"
    assert stored.threads == 3
    assert stored.relevance_sensitivity == pytest.approx(2.5)
    assert stored.exclude_patterns == ["*/Screenshots/*", "*.tmp"]
    assert stored.index_hidden is True

    reopened = SettingsDialog(stored)
    qtbot.addWidget(reopened)
    assert reopened.current_settings() == stored


def test_invalid_value_is_refused_and_nothing_written(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    provider = dialog.editors["execution_provider"].widget
    assert isinstance(provider, QComboBox)
    provider.addItem("tpu")  # a value the schema does not allow
    provider.setCurrentText("tpu")
    dialog.accept()
    assert dialog.saved is None
    assert not dialog.error_label.isHidden()
    assert "execution_provider" in dialog.error_label.text()
    assert load_settings() == Settings()  # still the defaults: no file was written


def test_restore_defaults(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings(threads=7, index_hidden=True))
    qtbot.addWidget(dialog)
    dialog.restore_defaults()
    assert dialog.current_settings() == Settings()
