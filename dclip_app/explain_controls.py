"""The explain window's selectors (method, span mode, layer, head, colormap, scale) and toolbar.

A method or span mode the user picks needs a new explanation (the window asks the runner);
layer, head, colormap and scale are views of the one it has (no model runs). Methods the bundle
cannot run are listed, greyed out, with the reason as their tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolBar, QWidget

from dclip_app.explain_state import (
    DEFAULT_COLORMAP,
    DEFAULT_SCALE,
    head_choices,
    layer_choices,
    unavailable_method_reason,
)
from dclip_app.resources import icon
from dclip_core.explain import COLORMAPS, COLOUR_SCALES, METHODS, AttentionView, Explanation

SPAN_MODES = (("phrases", "phrases"), ("tokens", "single words (tokens)"))
SCALE_WORDS = {"span": "relative (strongest = brightest)", "absolute": "absolute weight"}


class ExplainControls(QWidget):
    """Combo boxes over the explanation shown."""

    method_changed = Signal(str)
    span_mode_changed = Signal(str)
    view_changed = Signal()  # layer or head
    colours_changed = Signal()  # colormap or scale

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.method_combo = QComboBox()
        self.method_combo.setToolTip("How the weights are computed")
        self._method_model = QStandardItemModel(self.method_combo)
        self.method_combo.setModel(self._method_model)
        for name in METHODS:
            item = QStandardItem(name)
            item.setData(name, Qt.ItemDataRole.UserRole)
            self._method_model.appendRow(item)
        self.span_combo = _combo(SPAN_MODES, "How the query is split into the chips below")
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("Which layer's attention (rollout combines every layer)")
        self.head_combo = QComboBox()
        self.head_combo.setToolTip("One attention head, or the mean of all heads")
        self.colormap_combo = _combo(
            [(name, name) for name in COLORMAPS], "Perceptually uniform colormap"
        )
        self.scale_combo = _combo(
            [(name, SCALE_WORDS.get(name, name)) for name in COLOUR_SCALES],
            "Relative: the span's strongest region is full colour; absolute: the weight itself",
        )
        _select_data(self.colormap_combo, DEFAULT_COLORMAP)
        _select_data(self.scale_combo, DEFAULT_SCALE)

        for combo in (self.method_combo, self.layer_combo, self.head_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.setMinimumContentsLength(10)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for caption, combo in (
            ("Method", self.method_combo),
            ("Spans", self.span_combo),
            ("Layer", self.layer_combo),
            ("Head", self.head_combo),
            ("Colours", self.colormap_combo),
            ("Scale", self.scale_combo),
        ):
            label = QLabel(caption)
            label.setBuddy(combo)
            layout.addWidget(label)
            layout.addWidget(combo)
        layout.addStretch(1)

        self.method_combo.activated.connect(
            lambda _i: self.method_changed.emit(self.method_combo.currentData())
        )
        self.span_combo.activated.connect(
            lambda _i: self.span_mode_changed.emit(self.span_combo.currentData())
        )
        self.layer_combo.currentIndexChanged.connect(self._layer_changed)
        self.head_combo.currentIndexChanged.connect(lambda _i: self.view_changed.emit())
        self.colormap_combo.currentIndexChanged.connect(lambda _i: self.colours_changed.emit())
        self.scale_combo.currentIndexChanged.connect(lambda _i: self.colours_changed.emit())

    # --- what is chosen ----------------------------------------------------------------------

    @property
    def view(self) -> AttentionView:
        """Layer and head chosen (text→region; the window turns it as it needs)."""
        layer = self.layer_combo.currentData()
        head = self.head_combo.currentData() if layer != "rollout" else None
        return AttentionView(layer=-1 if layer is None else layer, head=head)

    @property
    def method(self) -> str | None:
        data = self.method_combo.currentData()
        return str(data) if data else None

    @property
    def colormap(self) -> str:
        return str(self.colormap_combo.currentData())

    @property
    def scale(self) -> str:
        return str(self.scale_combo.currentData())

    # --- filled from an explanation ----------------------------------------------------------

    def set_available(self, methods: Sequence[str], bundle_name: str) -> None:
        """Grey out the methods the bundle cannot run; the reason is the item's tooltip."""
        for row in range(self._method_model.rowCount()):
            item = self._method_model.item(row)
            name = str(item.data(Qt.ItemDataRole.UserRole))
            reason = unavailable_method_reason(name, list(methods), bundle_name)
            item.setEnabled(not reason)
            item.setToolTip(reason or METHODS[name].summary)

    def show_explanation(self, explanation: Explanation) -> None:
        """Method and span mode of ``explanation``; its layers and heads (last layer, mean)."""
        blocked = [w.blockSignals(True) for w in (self, self.layer_combo, self.head_combo)]
        try:
            _select_data(self.method_combo, explanation.method)
            _select_data(self.span_combo, explanation.span_mode)
            layer, head = self.layer_combo.currentData(), self.head_combo.currentData()
            layers = layer_choices(explanation)
            _fill(self.layer_combo, layers)
            _fill(self.head_combo, head_choices(explanation))
            # Keep the user's layer and head across queries when the new explanation has them;
            # else the last layer (the entry before rollout) and the mean of the heads.
            last = len(layers) - (2 if explanation.layers > 1 else 1)
            _select_data(self.layer_combo, layer, default=last)
            _select_data(self.head_combo, head)
            self.layer_combo.setEnabled(explanation.layers > 1)
            rollout = self.layer_combo.currentData() == "rollout"
            self.head_combo.setEnabled(explanation.heads > 1 and not rollout)
        finally:
            for widget, was in zip((self, self.layer_combo, self.head_combo), blocked, strict=True):
                widget.blockSignals(was)

    def _layer_changed(self, _index: int) -> None:
        rollout = self.layer_combo.currentData() == "rollout"
        if rollout:
            self.head_combo.blockSignals(True)
            _select_data(self.head_combo, None)
            self.head_combo.blockSignals(False)
        self.head_combo.setEnabled(not rollout and self.head_combo.count() > 1)
        self.view_changed.emit()


class ExplainToolbar(QToolBar):
    """Open photo, spotlight, fit, 100 %, the zoom shown, export PNG and JSON."""

    def __init__(self, zoom_label: QLabel, parent: QWidget) -> None:
        super().__init__("Explain", parent)
        self.setMovable(False)
        self.setStyleSheet(
            "QToolButton:checked { background: #d6e4f5; border: 1px solid #2f6fb3; "
            "border-radius: 4px; }"
        )
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.open_action = self._add("Open photo…", QKeySequence.StandardKey.Open, "image")
        self.addSeparator()
        self.spotlight_action = self._add("Spotlight", QKeySequence("S"))
        self.spotlight_action.setCheckable(True)
        self.spotlight_action.setToolTip("Dim the photo except where the weight is strong (S)")
        self.fit_action = self._add("Fit", QKeySequence("F"))
        self.fit_action.setToolTip("Show the whole photo (F)")
        self.actual_action = self._add("100 %", QKeySequence("1"))
        self.actual_action.setToolTip(
            "One photo pixel per screen pixel (1); wheel zooms, drag pans"
        )
        self.addWidget(zoom_label)
        self.addSeparator()
        self.export_png = self._add("Export PNG…", QKeySequence("Ctrl+Shift+P"))
        self.export_json = self._add("Export JSON…", QKeySequence("Ctrl+Shift+J"))

    def _add(
        self, text: str, shortcut: QKeySequence | QKeySequence.StandardKey, name: str = ""
    ) -> QAction:
        action = QAction(icon(name) if name else QIcon(), text, self.parentWidget())
        action.setShortcut(shortcut)
        self.addAction(action)
        return action


def _combo(entries: Sequence[tuple[Any, str]], tip: str) -> QComboBox:
    combo = QComboBox()
    combo.setToolTip(tip)
    _fill(combo, [(label, data) for data, label in entries])
    return combo


def _fill(combo: QComboBox, entries: Sequence[tuple[str, Any]]) -> None:
    combo.clear()
    for label, data in entries:
        combo.addItem(label, data)


def _select_data(combo: QComboBox, data: Any, default: int = 0) -> None:
    for row in range(combo.count()):
        if combo.itemData(row) == data:
            combo.setCurrentIndex(row)
            return
    combo.setCurrentIndex(default)
