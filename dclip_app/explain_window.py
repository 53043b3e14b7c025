""" "Why this match?": a photo, a query, and how the query's spans and the photo's regions attend.

The window is a thin view. :class:`~dclip_app.explain_runner.ExplainRunner` computes
explanations in the background (a newer request cancels the older); what is drawn comes from
:mod:`dclip_app.explain_state` (Qt-free), on the :class:`~dclip_app.photo_canvas.PhotoCanvas`:

1. a span is hovered or selected (chips above the photo): every region is coloured by that
   span's text→region weights, the legend shows the scale, spotlight dims all but the strong;
2. a region is selected (click a box): the chips are shaded by its region→text weights;
3. exact numbers are in tooltips and in the line under the photo while hovering;
4. layer, head, colormap and scale re-colour without running a model; method and span mode ask
   for a new explanation; a sentence says which method is showing and what it means.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from dclip_app import explain_state as state
from dclip_app import explain_text as text
from dclip_app.canvas_items import BoxItem
from dclip_app.explain_controls import ExplainControls, ExplainToolbar
from dclip_app.explain_export import footer_lines, overlay_png, write_json, write_png
from dclip_app.explain_runner import ExplainRequest, ExplainResult, ExplainRunner
from dclip_app.photo_canvas import PhotoCanvas
from dclip_app.resources import icon
from dclip_app.span_chips import ColourLegend, SpanChips
from dclip_core.explain import Explanation

PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.webp *.tif *.tiff *.bmp *.heic);;All files (*)"
ERROR_STYLE = "color: #a33a2a; font-weight: 600;"
CAVEAT_STYLE = "background: #fff4c2; color: #3a3000; padding: 5px; border-radius: 4px;"


class ExplainWindow(QMainWindow):
    """Region attention of one photo and query; open it on any photo with any words."""

    def __init__(self, runner: ExplainRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window, True)
        self.setWindowTitle("Why this match?")
        self.setWindowIcon(icon("dclip"))
        self.runner = runner
        self.explanation: Explanation | None = None
        self.photo: Path | None = None
        self.span: int | None = None  # selected span
        self.region: int | None = None  # selected region
        self._hover_span: int | None = None
        self._hover_region: int | None = None
        self._span_mode: str | None = None  # chosen by the user; None: the method's own

        self.canvas = PhotoCanvas()
        self.chips = SpanChips()
        self.controls = ExplainControls()
        self.legend = ColourLegend()
        self.query_field = QLineEdit()
        self.query_field.setObjectName("SearchField")
        self.query_field.setPlaceholderText("Words to explain, e.g. “a red circle”")
        self.query_field.setClearButtonEnabled(True)
        self.photo_label = QLabel("No photo")
        self.photo_label.setObjectName("HelpText")
        self.explain_button = QPushButton(icon("search"), "Explain")
        self.explain_button.setObjectName("PrimaryButton")
        self.method_label = QLabel()
        self.method_label.setWordWrap(True)
        self.caveat_label = QLabel()
        self.caveat_label.setWordWrap(True)
        self.caveat_label.setStyleSheet(CAVEAT_STYLE)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.info_label = QLabel()
        self.info_label.setObjectName("HelpText")
        self.info_label.setWordWrap(True)
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.zoom_label = QLabel()

        self._build_actions()
        self._build_layout()
        self._connect()
        self.resize(1180, 820)
        self.show_message(
            "Open a photo and type the words to explain, or use “Why this match?” "
            "on a search result."
        )
        self._show_nothing()

    # --- building ----------------------------------------------------------------------------

    def _build_actions(self) -> None:
        bar = ExplainToolbar(self.zoom_label, self)
        self.addToolBar(bar)
        self.open_action, self.spotlight_action = bar.open_action, bar.spotlight_action
        self.fit_action, self.actual_action = bar.fit_action, bar.actual_action
        self.export_png_action, self.export_json_action = bar.export_png, bar.export_json
        close = QAction("Close", self)
        close.setShortcut(QKeySequence.StandardKey.Close)
        close.triggered.connect(self.close)
        self.addAction(close)

    def _build_layout(self) -> None:
        ask = QHBoxLayout()
        ask.addWidget(self.photo_label)
        ask.addWidget(self.query_field, 1)
        ask.addWidget(self.explain_button)
        chips_area = QScrollArea()
        chips_area.setWidget(self.chips)
        chips_area.setWidgetResizable(True)
        chips_area.setFrameShape(QScrollArea.Shape.NoFrame)
        chips_area.setFixedHeight(44)
        chips_area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        bottom = QHBoxLayout()
        bottom.addWidget(self.info_label, 1)
        bottom.addWidget(self.legend)
        self.legend.setMaximumWidth(380)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addLayout(ask)
        layout.addWidget(self.controls)
        layout.addWidget(self.method_label)
        layout.addWidget(self.caveat_label)
        layout.addWidget(self.message_label)
        layout.addWidget(chips_area)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(bottom)
        self.setCentralWidget(central)

    def _connect(self) -> None:
        self.open_action.triggered.connect(self.choose_photo)
        self.explain_button.clicked.connect(self.explain_current)
        self.query_field.returnPressed.connect(self.explain_current)
        self.spotlight_action.toggled.connect(lambda _on: self._render())
        self.fit_action.triggered.connect(self.canvas.fit)
        self.actual_action.triggered.connect(self.canvas.actual_size)
        self.export_png_action.triggered.connect(
            lambda: self._ask_export("PNG image (*.png)", ".png", self.export_png)
        )
        self.export_json_action.triggered.connect(
            lambda: self._ask_export("JSON (*.json)", ".json", self.export_json)
        )
        self.canvas.zoom_changed.connect(
            lambda z: self.zoom_label.setText(f"  zoom {z * 100:.0f} %  ")
        )
        self.canvas.box_clicked.connect(self.select_region)
        self.canvas.background_clicked.connect(lambda: self.select_region(None))
        self.canvas.box_hovered.connect(self._region_hovered)
        self.chips.span_clicked.connect(self.select_span)
        self.chips.span_hovered.connect(self._span_hovered)
        self.controls.method_changed.connect(self._method_chosen)
        self.controls.span_mode_changed.connect(self._span_mode_chosen)
        self.controls.view_changed.connect(self._render)
        self.controls.colours_changed.connect(self._render)
        self.runner.started.connect(self._started)
        self.runner.explained.connect(self._explained)
        self.runner.failed.connect(self._failed)

    # --- asking ------------------------------------------------------------------------------

    def explain(self, photo: Path, query: str) -> None:
        """Show ``photo`` explained for ``query`` (typed into the window's own field too)."""
        self.photo = Path(photo)
        self.photo_label.setText(self.photo.name)
        self.setWindowTitle(f"Why this match? — {self.photo.name}")
        self.query_field.setText(query)
        self.explain_current()

    def choose_photo(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open a photo to explain", "", PHOTO_FILTER)
        if name:
            self.explain(Path(name), self.query_field.text())

    def explain_current(self) -> None:
        """Explain the photo and words shown, with the method and span mode chosen."""
        query = self.query_field.text()
        if self.photo is None:
            self.show_message(
                "Open a photo first (Open photo…), then type the words to explain.", error=True
            )
            return
        if not query.strip():
            self._show_nothing()
            self.show_message(
                "The query is empty: type the words to explain, e.g. “a red "
                "circle”, and press Enter.",
                error=True,
            )
            return
        method = self.controls.method if self.explanation is not None else None
        self.runner.request(ExplainRequest(self.photo, query, method, self._span_mode))

    def _method_chosen(self, _method: str) -> None:
        self._span_mode = None  # each method splits the query its own way unless asked
        self.explain_current()

    def _span_mode_chosen(self, mode: str) -> None:
        self._span_mode = mode
        self.explain_current()

    def _started(self, request: ExplainRequest) -> None:
        self.show_message(f"Explaining “{request.query}” on {request.photo.name}…")

    def _explained(self, result: ExplainResult) -> None:
        explanation = result.explanation
        self.explanation = explanation
        self.controls.set_available(result.methods, explanation.bundle_name)
        self.controls.show_explanation(explanation)
        self.canvas.set_photo(result.image, explanation.image_size, result.request.photo)
        for index, region in enumerate(explanation.regions):
            x1, y1, x2, y2 = region.box
            confidence = region.confidence if region.kind == "detection" else None
            label = "whole photo" if region.kind == "photo" else region.label
            self.canvas.add_box(
                BoxItem(
                    index,
                    QRectF(x1, y1, x2 - x1, y2 - y1),
                    label,
                    confidence,
                    outline_only=region.kind == "photo",
                )
            )
        self.chips.set_spans(explanation.query, explanation.spans)
        self.method_label.setText(state.method_sentence(explanation))
        caveat = state.caveat_sentence(explanation)
        if "teacher" not in result.methods:
            caveat = (caveat + " " if caveat else "") + (
                "This bundle has no explain/ part (no trained teacher): only the training-free "
                "similarity method can run."
            )
        self.caveat_label.setText(caveat)
        self.caveat_label.setVisible(bool(caveat))
        self.show_message("")
        self.region = None
        first = next((i for i, s in enumerate(explanation.spans) if s.chars is not None), 0)
        self.select_span(first)

    def _failed(self, message: str) -> None:
        self._show_nothing()
        self.show_message(message, error=True)

    def show_message(self, text: str, *, error: bool = False) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet(ERROR_STYLE if error else "")
        self.message_label.setVisible(bool(text))

    def _show_nothing(self) -> None:
        self.explanation = None
        self.span = self.region = self._hover_span = self._hover_region = None
        self.canvas.clear_boxes()
        self.chips.set_spans("", [])
        self.method_label.setText("")
        self.caveat_label.setVisible(False)
        self.info_label.setText("")
        self.legend.set_scale(self.controls.colormap, 1.0, "")
        for action in (self.export_png_action, self.export_json_action):
            action.setEnabled(False)

    # --- selecting ---------------------------------------------------------------------------

    def select_span(self, index: int | None) -> None:
        """Colour the regions by span ``index`` (None: no span)."""
        self.span = index
        if index is not None:
            self.region = None
        self._render()

    def select_region(self, index: int | None) -> None:
        """Shade the chips by region ``index``'s region→text weights (None: no region)."""
        self.region = index
        if index is not None:
            self.span = None
        self._render()

    def _span_hovered(self, index: int) -> None:
        self._hover_span = index if index >= 0 else None
        self._render()

    def _region_hovered(self, index: int) -> None:
        self._hover_region = index if index >= 0 else None
        self._update_info()

    # --- drawing -----------------------------------------------------------------------------

    @property
    def shown_span(self) -> int | None:
        """The span the regions are coloured by: the hovered one, else the selected one."""
        return self._hover_span if self._hover_span is not None else self.span

    def _render(self) -> None:
        explanation = self.explanation
        if explanation is None:
            return
        for action in (self.export_png_action, self.export_json_action):
            action.setEnabled(True)
        view, colormap, scale = self.controls.view, self.controls.colormap, self.controls.scale
        spotlight = self.spotlight_action.isChecked()
        self.canvas.set_spotlight(spotlight)
        photo = self.canvas.paint_photo if spotlight else None
        span = self.shown_span
        self.chips.set_selected(self.span)
        if span is not None:
            shades = state.region_shades(explanation, span, view, scale=scale, colormap=colormap)
            for box in self.canvas.boxes:
                shade = shades.of(box.index)
                # Under the spotlight the photo itself shows the strong regions: a light fill.
                box.set_colour(shade.rgb, shade.alpha // 3 if spotlight else shade.alpha)
                box.set_detail(f"{shade.weight:.2f}")
                box.set_selected(False)
                box.setZValue(10 + shade.value)
                box.set_spotlight(photo, shade.value)
            self.chips.set_shades(None, text.chip_tooltips(explanation, view, None))
            words = text.span_words(explanation, span)
            self.legend.set_scale(colormap, shades.top, f"“{words}” → each region")
        else:
            region = self.region
            for box in self.canvas.boxes:
                box.clear_colour()
                box.set_detail("")
                box.set_selected(box.index == region)
                box.setZValue(10.0)
                reveal = 1.0 if box.index == region else 0.0
                box.set_spotlight(photo, reveal)
            if region is not None:
                shades = state.span_shades(
                    explanation, region, view, scale=scale, colormap=colormap
                )
                self.chips.set_shades(shades, text.chip_tooltips(explanation, view, region))
                label = self.canvas.boxes[region].label
                self.legend.set_scale(colormap, shades.top, f"region “{label}” → each span")
            else:
                self.chips.set_shades(None, text.chip_tooltips(explanation, view, None))
                self.legend.set_scale(colormap, 1.0, "Select a span or a region")
        for box in self.canvas.boxes:
            box.setToolTip(text.box_tooltip(explanation, view, box.index, span))
        self._update_info()

    def _update_info(self) -> None:
        """Exact numbers of what is under the pointer (or selected), under the photo."""
        explanation = self.explanation
        region = self._hover_region if self._hover_region is not None else self.region
        self.info_label.setText(
            ""
            if explanation is None
            else text.info_line(explanation, self.controls.view, self.shown_span, region)
        )

    # --- export ------------------------------------------------------------------------------

    def export_png(self, path: Path) -> Path:
        """The overlay as shown (photo, coloured boxes, a footer that says what they mean)."""
        assert self.explanation is not None
        lines = footer_lines(self.legend.caption, self.explanation, self.controls.view)
        image = self.canvas.render_image()
        return write_png(path, overlay_png(image, lines, self.controls.colormap, self.legend.top))

    def export_json(self, path: Path) -> Path:
        """Regions, spans, every layer and head, the view and colours shown."""
        explanation = self.explanation
        assert explanation is not None
        data = state.export_json(
            explanation,
            self.controls.view,
            span=self.shown_span,
            region=self.region,
            scale=self.controls.scale,
            colormap=self.controls.colormap,
        )
        return write_json(path, data)

    def _ask_export(self, kind: str, suffix: str, write: Callable[[Path], Path]) -> None:
        if self.explanation is None or self.photo is None:
            return
        suggested = str(self.photo.with_name(f"{self.photo.stem}-explain{suffix}"))
        name, _ = QFileDialog.getSaveFileName(self, "Export", suggested, kind)
        if not name:
            return
        try:
            written = write(Path(name))
        except OSError as exc:
            self.show_message(f"Cannot write {name}: {exc.strerror or exc}", error=True)
            return
        self.show_message(f"Wrote {written}")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.runner.cancel()
        self.canvas.shutdown()
        super().closeEvent(event)
