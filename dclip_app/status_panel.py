"""Status-bar widgets: indexing progress with pause/cancel, skipped files, model and provider."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dclip_app.resources import icon

if TYPE_CHECKING:
    from dclip_core.library.indexer import IndexProgress


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "estimating time left"
    seconds = round(seconds)
    if seconds < 60:
        return f"about {seconds} s left"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"about {minutes}:{seconds:02d} left"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes:02d} min left"


def describe_progress(progress: IndexProgress) -> str:
    """E.g. "Indexing 340 / 1,000 · 12.3 photos/s · about 0:53 left"."""
    if progress.phase == "scanning":
        return "Looking for new and changed photos…"
    if progress.phase == "cleaning":
        return f"Tidying up the index ({progress.done:,} photos)…"
    if progress.phase == "done":
        return f"Indexed {progress.done:,} photos"
    if progress.total <= 0:
        return "Indexing…"
    return (
        f"Indexing {progress.done:,} / {progress.total:,} · {progress.rate:.1f} photos/s · "
        f"{format_eta(progress.eta_s)}"
    )


class IndexStatus(QWidget):
    """Progress of the background indexer, with pause/resume and cancel."""

    pause_toggled = Signal(bool)  # True = pause
    cancel_requested = Signal()
    skipped_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("Ready")
        self.bar = QProgressBar()
        self.bar.setFixedWidth(160)
        self.bar.setTextVisible(False)
        self.pause_button = QToolButton()
        self.pause_button.setIconSize(QSize(16, 16))
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.cancel_button = QToolButton()
        self.cancel_button.setIcon(icon("cancel"))
        self.cancel_button.setIconSize(QSize(16, 16))
        self.cancel_button.setToolTip("Stop indexing (what is done so far is kept)")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.skipped_button = QPushButton()
        self.skipped_button.setFlat(True)
        self.skipped_button.setIcon(icon("warning"))
        self.skipped_button.setToolTip("Show the files that could not be indexed, and why")
        self.skipped_button.clicked.connect(self.skipped_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.pause_button)
        layout.addWidget(self.cancel_button)
        layout.addWidget(self.skipped_button)
        self._on_pause_toggled(False)
        self.set_running(False)
        self.set_skipped(0)

    def set_running(self, running: bool) -> None:
        for widget in (self.bar, self.pause_button, self.cancel_button):
            widget.setVisible(running)
        if running:
            self.bar.setRange(0, 0)  # busy until the first count arrives
        else:
            self.pause_button.blockSignals(True)
            self.pause_button.setChecked(False)
            self.pause_button.blockSignals(False)
            self._on_pause_toggled(False, emit=False)

    def show_progress(self, progress: IndexProgress) -> None:
        if progress.total > 0 and progress.phase != "scanning":
            self.bar.setRange(0, progress.total)
            self.bar.setValue(min(progress.done, progress.total))
        text = describe_progress(progress)
        self.label.setText(f"{text} · paused" if self.pause_button.isChecked() else text)

    def show_message(self, text: str) -> None:
        self.label.setText(text)

    def set_skipped(self, count: int) -> None:
        self.skipped_button.setVisible(count > 0)
        self.skipped_button.setText(f"{count:,} skipped")

    def _on_pause_toggled(self, paused: bool, emit: bool = True) -> None:
        self.pause_button.setIcon(icon("resume" if paused else "pause"))
        self.pause_button.setToolTip("Resume indexing" if paused else "Pause indexing")
        if emit:
            self.pause_toggled.emit(paused)


class ModelStatus(QLabel):
    """Active model and execution provider, e.g. "clip-vit-b-32 · CPU"."""

    def show_model(self, model: str | None, provider: str | None, note: str = "") -> None:
        if model is None:
            self.setText("No model")
            self.setToolTip("Set up a model to search")
            return
        shown = (provider or "").replace("ExecutionProvider", "").upper() or "—"
        self.setText(f"Model: {model} · {shown}")
        self.setToolTip(note or f"Searching with {model} on {shown}")


class SkippedFilesDialog(QDialog):
    """The files the indexer could not use, with the reason for each."""

    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Skipped files")
        self.resize(760, 420)
        intro = QLabel(
            f"{len(rows):,} file(s) could not be indexed. They are tried again when they change."
        )
        intro.setWordWrap(True)
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["File", "Reason"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (path, reason) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(path))
            self.table.setItem(row, 1, QTableWidgetItem(reason))
        self.table.resizeColumnToContents(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
