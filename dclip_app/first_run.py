"""The first-run panel: shown while there is no usable model bundle.

It offers to download the default model (progress, cancel, retry), to import a weights file, or —
offline — to try the demo model. Once weights are there it prepares (exports) the bundle in a child
process and emits :attr:`FirstRunPanel.model_ready` with the bundle folder.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dclip_app.detail_pane import human_size
from dclip_app.model_setup import (
    DEMO_MODEL,
    DownloadProgress,
    ModelState,
    download_weights_task,
    export_bundle_task,
    import_weights_task,
    model_state,
)
from dclip_app.resources import icon
from dclip_app.workers import Worker, WorkerPool
from dclip_core.errors import WeightsMissingError


class FirstRunPanel(QWidget):
    """Set up a model: download, import, or demo; then prepare the bundle."""

    model_ready = Signal(Path)
    demo_chosen = Signal(str)  # the demo model's name; the window saves it in the settings

    def __init__(self, pool: WorkerPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("FirstRunPanel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self._pool = pool
        self._state: ModelState | None = None
        self._worker: Worker | None = None
        self._last_action = self.start_download

        card = QWidget()
        card.setObjectName("FirstRunCard")
        card.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        card.setMaximumWidth(640)
        logo = QLabel()
        logo.setPixmap(icon("dclip").pixmap(56, 56))
        self.title = QLabel("Set up a search model")
        self.title.setObjectName("FirstRunTitle")
        self.text = QLabel()
        self.text.setObjectName("FirstRunText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)

        self.download_button = QPushButton(icon("download"), "Download the model")
        self.download_button.setObjectName("PrimaryButton")
        self.download_button.clicked.connect(self.start_download)
        self.import_button = QPushButton(icon("import"), "Import a weights file…")
        self.import_button.clicked.connect(self.choose_import)
        self.demo_button = QPushButton("Try the demo")
        self.demo_button.setToolTip(
            "A tiny built-in model with random weights: every feature works, results are random"
        )
        self.demo_button.clicked.connect(self.start_demo)

        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton(icon("cancel"), "Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.error_label = QLabel()
        self.error_label.setObjectName("FirstRunError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retry_button = QPushButton(icon("rescan"), "Retry")
        self.retry_button.clicked.connect(lambda: self._last_action())

        header = QHBoxLayout()
        header.addWidget(logo)
        header.addWidget(self.title, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.download_button)
        actions.addWidget(self.import_button)
        actions.addWidget(self.demo_button)
        actions.addStretch(1)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        error_row = QHBoxLayout()
        error_row.addWidget(self.error_label, 1)
        error_row.addWidget(self.retry_button, 0, Qt.AlignmentFlag.AlignTop)

        inner = QVBoxLayout(card)
        inner.setContentsMargins(28, 24, 28, 24)
        inner.setSpacing(14)
        inner.addLayout(header)
        inner.addWidget(self.text)
        inner.addLayout(actions)
        inner.addWidget(self.progress_label)
        inner.addLayout(progress_row)
        inner.addLayout(error_row)

        outer = QVBoxLayout(self)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
        self._set_busy(False)
        self.show_error(None)

    # --- state ---------------------------------------------------------------------------------

    def show_state(self, state: ModelState) -> None:
        """Explain what the configured model needs and offer the matching actions."""
        self._state = state
        spec = state.spec
        if state.problem is not None or spec is None:
            self.text.setText(
                f"The model in your settings, <b>{state.model}</b>, cannot be used:<br>"
                f"{state.problem}<br><br>Choose another model in Settings, or try the demo."
            )
            self.download_button.hide()
            self.import_button.hide()
            return
        size = spec.weights.size_bytes if spec.weights else None
        size_text = f" (about {human_size(size)})" if size else ""
        if state.weights_ready:
            self.text.setText(
                f"<b>{spec.description}</b><br>The weights are here. DCLIP prepares the model "
                "for fast search once (about a minute), then everything runs on this computer."
            )
            self.download_button.setText("Prepare the model")
            self.import_button.hide()
        else:
            self.text.setText(
                f"DCLIP needs a vision-language model to understand your photos. The default is "
                f"<b>{spec.description}</b>: a one-time download{size_text}. After that, indexing "
                "and search run entirely on this computer; no photo ever leaves it."
            )
            self.download_button.setText("Download the model")
            self.import_button.show()
        self.download_button.show()

    # --- actions -------------------------------------------------------------------------------

    def start_download(self) -> None:
        state = self._state
        if state is None or state.spec is None:
            return
        self._last_action = self.start_download
        if state.weights_ready:
            self._start_export(state.model)
            return
        self.show_error(None)
        self._set_busy(True, "Connecting…")
        self._worker = self._pool.start(
            download_weights_task(state.spec),
            "download weights",
            on_progress=self._show_download_progress,
            on_result=lambda _path: self._weights_arrived(),
            on_error=self._failed,
            on_cancelled=self._cancelled,
        )

    def choose_import(self) -> None:
        state = self._state
        if state is None or state.spec is None:
            return
        chosen, _ = QFileDialog.getOpenFileName(
            self, f"Weights file for {state.spec.name}", "", "Weights (*.pt *.bin *.safetensors)"
        )
        if chosen:
            self.start_import(Path(chosen))

    def start_import(self, path: Path) -> None:
        state = self._state
        if state is None or state.spec is None:
            return
        self._last_action = lambda: self.start_import(path)
        self.show_error(None)
        self._set_busy(True, f"Checking {path.name}…")
        self._worker = self._pool.start(
            import_weights_task(state.spec, path),
            "import weights",
            on_progress=lambda text: self.progress_label.setText(str(text)),
            on_result=lambda _path: self._weights_arrived(),
            on_error=self._failed,
            on_cancelled=self._cancelled,
        )

    def start_demo(self) -> None:
        self._last_action = self.start_demo
        self.demo_chosen.emit(DEMO_MODEL)
        self._start_export(DEMO_MODEL)

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self.progress_label.setText("Stopping…")

    def _start_export(self, model: str) -> None:
        state = model_state(model)
        if state.bundle is not None:
            self.model_ready.emit(state.bundle)
            return
        self.show_error(None)
        self._set_busy(True, "Preparing the model for fast search (one time)…")
        self.progress.setRange(0, 0)
        self._worker = self._pool.start(
            export_bundle_task(model),
            "export bundle",
            on_progress=lambda line: self.progress_label.setText(f"Preparing the model: {line}"),
            on_result=self._bundle_ready,
            on_error=self._failed,
            on_cancelled=self._cancelled,
        )

    # --- callbacks (GUI thread) ----------------------------------------------------------------

    def _show_download_progress(self, progress: DownloadProgress) -> None:
        total = progress.total_bytes
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * progress.done_bytes / total))
        rate = f"{human_size(int(progress.rate_bytes_s))}/s"
        of_total = f" of {human_size(total)}" if total else ""
        self.progress_label.setText(
            f"Downloading {human_size(progress.done_bytes)}{of_total} · {rate}"
        )

    def _weights_arrived(self) -> None:
        state = self._state
        if state is not None:
            self.show_state(model_state(state.model))
            self._start_export(state.model)

    def _bundle_ready(self, bundle: Path) -> None:
        self._set_busy(False)
        self.model_ready.emit(bundle)

    def _failed(self, error: BaseException) -> None:
        self._set_busy(False)
        if isinstance(error, WeightsMissingError):
            self.show_error(
                f"You seem to be offline, or the download server cannot be reached. {error}\n"
                "You can import the weights file instead, or try the demo."
            )
        else:
            self.show_error(str(error))

    def _cancelled(self) -> None:
        self._set_busy(False)
        self.progress_label.setText("Cancelled. Nothing was kept; you can start again.")
        self.progress_label.show()

    # --- widgets -------------------------------------------------------------------------------

    def _set_busy(self, busy: bool, text: str = "") -> None:
        if not busy:
            self._worker = None
        for button in (self.download_button, self.import_button, self.demo_button):
            button.setEnabled(not busy)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.progress_label.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.progress_label.setText(text)

    def show_error(self, message: str | None) -> None:
        self.error_label.setText(message or "")
        self.error_label.setVisible(message is not None)
        self.retry_button.setVisible(message is not None)

    @property
    def busy(self) -> bool:
        return self._worker is not None
