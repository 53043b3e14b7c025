"""The detail pane: a larger preview of the current result, its facts, and what to do with it."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal, SignalInstance
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from dclip_app.resources import icon
from dclip_app.results_model import SearchHit
from dclip_app.results_view import paint_region
from dclip_app.thumbnails import ThumbnailCache, ThumbnailState
from dclip_core.library.regions import describe_box

PREVIEW_EDGE = 320


def human_size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "—"
    size = float(size_bytes)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} GB"


class DetailPane(QWidget):
    """Shows one hit; buttons ask the window to open, reveal, copy or find similar photos."""

    open_requested = Signal(object)
    reveal_requested = Signal(object)
    copy_requested = Signal(object)
    similar_requested = Signal(object)
    explain_requested = Signal(object)  # "Why this match?"

    def __init__(
        self,
        previews: ThumbnailCache,
        sources: Callable[[SearchHit], Callable[[], Sequence[Path]]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("DetailPane")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setMinimumWidth(230)
        self._previews = previews
        self._sources = sources
        self._hit: SearchHit | None = None
        previews.ready.connect(self._preview_arrived)

        title = QLabel("DETAILS")
        title.setObjectName("PaneTitle")
        self.preview = QLabel()
        self.preview.setObjectName("DetailPreview")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(QSize(200, 180))
        self.preview.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

        self.name_label = QLabel()
        self.name_label.setWordWrap(True)
        self.name_label.setStyleSheet("font-weight: 600; font-size: 14px;")
        self.fields: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        for row, caption in enumerate(("Folder", "Size", "Pixels", "Taken", "Score")):
            caption_label = QLabel(caption)
            caption_label.setObjectName("DetailCaption")
            value = QLabel()
            value.setObjectName("DetailField")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(caption_label, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(value, row, 1)
            self.fields[caption] = value

        self.open_button = _action_button("open", "Open", "Open with the system viewer (Enter)")
        self.reveal_button = _action_button("reveal", "Show in folder", "Show in the file manager")
        self.copy_button = _action_button("copy", "Copy path", "Copy the file path (Ctrl+C)")
        self.similar_button = _action_button(
            "similar", "Find similar", "Search for photos like this one"
        )
        self.explain_button = _action_button(
            "help",
            "Why this match?",
            "Show how the query's words and this photo's regions attend to each other (Ctrl+E)",
        )
        self.open_button.clicked.connect(lambda: self._request(self.open_requested))
        self.reveal_button.clicked.connect(lambda: self._request(self.reveal_requested))
        self.copy_button.clicked.connect(lambda: self._request(self.copy_requested))
        self.similar_button.clicked.connect(lambda: self._request(self.similar_requested))
        self.explain_button.clicked.connect(lambda: self._request(self.explain_requested))
        buttons = QGridLayout()
        buttons.addWidget(self.open_button, 0, 0)
        buttons.addWidget(self.reveal_button, 0, 1)
        buttons.addWidget(self.copy_button, 1, 0)
        buttons.addWidget(self.similar_button, 1, 1)
        buttons.addWidget(self.explain_button, 2, 0, 1, 2)

        self.empty_label = QLabel("Select a result to see it here.")
        self.empty_label.setObjectName("HelpText")
        self.empty_label.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.addWidget(title)
        layout.addWidget(self.preview)
        layout.addWidget(self.name_label)
        layout.addLayout(grid)
        layout.addLayout(buttons)
        layout.addWidget(self.empty_label)
        layout.addStretch(1)
        self.show_hit(None)

    @property
    def hit(self) -> SearchHit | None:
        return self._hit

    def show_hit(self, hit: SearchHit | None) -> None:
        self._hit = hit
        has_hit = hit is not None
        for button in (
            self.open_button,
            self.reveal_button,
            self.copy_button,
            self.similar_button,
            self.explain_button,
        ):
            button.setEnabled(has_hit)
        self.empty_label.setVisible(not has_hit)
        if hit is None:
            self.name_label.setText("")
            for value in self.fields.values():
                value.setText("")
            self.preview.clear()
            self.preview.setText("No photo selected")
            return
        path = Path(hit.path)
        self.name_label.setText(path.name)
        self.fields["Folder"].setText(os.fspath(path.parent))
        self.fields["Size"].setText(human_size(getattr(hit, "size_bytes", None)))
        width, height = getattr(hit, "width", None), getattr(hit, "height", None)
        self.fields["Pixels"].setText(f"{width} × {height}" if width and height else "—")
        taken = getattr(hit, "taken_at", None)
        self.fields["Taken"].setText(str(taken).replace("T", " ")[:19] if taken else "—")
        verdict = "relevant" if hit.relevant else "below the relevance cutoff"
        region = getattr(hit, "region", None)
        where = f", best in the {describe_box(region)} crop" if region else ""
        self.fields["Score"].setText(f"{hit.score:.3f} (rank {hit.rank}, {verdict}{where})")
        self._update_preview()

    def _update_preview(self) -> None:
        hit = self._hit
        if hit is None:
            return
        state, pixmap = self._previews.lookup(str(hit.path), self._sources(hit))
        if state is ThumbnailState.READY and pixmap is not None:
            scaled = pixmap.scaled(
                self.preview.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            region = getattr(hit, "region", None)
            if region is not None:
                painter = QPainter(scaled)
                paint_region(painter, scaled.rect(), region)
                painter.end()
            self.preview.setPixmap(scaled)
        elif state is ThumbnailState.FAILED:
            self.preview.setText(
                f"Cannot show this photo:\n{self._previews.failure_reason(str(hit.path))}"
            )
        else:
            self.preview.setText("Loading preview…")

    def _preview_arrived(self, key: str) -> None:
        if self._hit is not None and str(self._hit.path) == key:
            self._update_preview()

    def _request(self, signal: SignalInstance) -> None:
        if self._hit is not None:
            signal.emit(self._hit)


def _action_button(icon_name: str, text: str, tip: str) -> QPushButton:
    button = QPushButton(icon(icon_name), text)
    button.setToolTip(tip)
    return button
