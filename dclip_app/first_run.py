"""The first-run panel: shown while there is no usable model bundle.

It offers to download the default model (progress, cancel, retry), to import a weights file, or —
offline — to try the demo. Once weights are there it prepares (exports) the bundle in a child
process and emits :attr:`FirstRunPanel.model_ready` with the bundle folder. A step that fails is
said in one sentence (:mod:`dclip_app.messages`); its technical text is behind "Details" and in the
log.

"Try the demo" builds ``dclip demo``'s offline demo (shapes world, a model trained here, indexed)
in a child process with its progress lines shown, then opens it in an app window of its own on the
demo's home, so the user's settings and library stay untouched (ADR 0010).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dclip_app.demo_setup import BuiltDemo, DemoApp, DemoSizes, build_demo_task, open_demo_app
from dclip_app.detail_pane import human_size
from dclip_app.messages import Step, describe_failure
from dclip_app.model_setup import (
    DownloadProgress,
    ModelState,
    download_weights_task,
    export_bundle_task,
    import_weights_task,
    model_state,
)
from dclip_app.resources import icon
from dclip_app.workers import Worker, WorkerPool

log = logging.getLogger(__name__)

# How long the demo window gets to start before the panel checks that it did not fail at once.
DEMO_START_CHECK_MS = 3000
DEMO_LOG_LINES = 200
DETAILS_HEIGHT = 150


class FirstRunPanel(QWidget):
    """Set up a model: download, import, or demo; then prepare the bundle.

    Args:
        pool: where the background steps run.
        demo_sizes: how much demo to build (``None``: ``dclip demo``'s sizes; tests pass tiny
            ones).
    """

    model_ready = Signal(Path)
    demo_opened = Signal(object)  # the DemoApp: the demo's window, started as its own process

    def __init__(
        self,
        pool: WorkerPool,
        parent: QWidget | None = None,
        *,
        demo_sizes: DemoSizes | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("FirstRunPanel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self._pool = pool
        self._state: ModelState | None = None
        self._worker: Worker | None = None
        self._last_action = self.start_download
        self._cancelled_text = "Cancelled. Nothing was kept; you can start again."
        self.demo_sizes = demo_sizes
        self.demo_app: DemoApp | None = None

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
            "Works offline: a small model learns coloured shapes on this computer (a few minutes, "
            "once), then a demo library of shapes pictures opens in a window of its own. "
            "Your settings and library stay as they are."
        )
        self.demo_button.clicked.connect(self.start_demo)

        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        self.demo_log = QPlainTextEdit()
        self.demo_log.setObjectName("FirstRunLog")
        self.demo_log.setReadOnly(True)
        self.demo_log.setMaximumBlockCount(DEMO_LOG_LINES)
        # Wrapped: the lines name folders, which a horizontal scrollbar would hide.
        self.demo_log.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.demo_log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.demo_log.setFixedHeight(120)
        self.demo_log.hide()
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton(icon("cancel"), "Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.error_label = QLabel()
        self.error_label.setObjectName("FirstRunError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retry_button = QPushButton(icon("rescan"), "Retry")
        self.retry_button.clicked.connect(lambda: self._last_action())
        # The technical text of an error (paths, URLs, errno) stays out of the way, one click off.
        self.details_button = QToolButton()
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.setAutoRaise(True)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.toggled.connect(self._show_details)
        self.details = QPlainTextEdit()
        self.details.setObjectName("FirstRunDetails")
        self.details.setReadOnly(True)  # selectable and copyable, for a bug report
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setFixedHeight(DETAILS_HEIGHT)

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
        error_row.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        error_row.addWidget(self.retry_button, 0, Qt.AlignmentFlag.AlignTop)

        inner = QVBoxLayout(card)
        inner.setContentsMargins(28, 24, 28, 24)
        inner.setSpacing(14)
        inner.addLayout(header)
        inner.addWidget(self.text)
        inner.addLayout(actions)
        inner.addWidget(self.progress_label)
        inner.addWidget(self.demo_log)
        inner.addLayout(progress_row)
        inner.addLayout(error_row)
        inner.addWidget(self.details)

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
        self._not_the_demo()
        self.show_error(None)
        self._set_busy(True, "Connecting…")
        self._worker = self._pool.start(
            download_weights_task(state.spec),
            "download weights",
            on_progress=self._show_download_progress,
            on_result=lambda _path: self._weights_arrived(),
            on_error=lambda error: self._failed(error, "download"),
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
        self._not_the_demo()
        self.show_error(None)
        self._set_busy(True, f"Checking {path.name}…")
        self._worker = self._pool.start(
            import_weights_task(state.spec, path),
            "import weights",
            on_progress=lambda text: self.progress_label.setText(str(text)),
            on_result=lambda _path: self._weights_arrived(),
            on_error=lambda error: self._failed(error, "import"),
            on_cancelled=self._cancelled,
        )

    def start_demo(self) -> None:
        """Build the offline demo in the background (progress lines, cancel), then open it."""
        self._last_action = self.start_demo
        self._cancelled_text = (
            "Demo stopped; nothing half-made was kept. Finished steps are reused next time."
        )
        self.show_error(None)
        self.demo_log.clear()
        self.demo_log.show()
        self._set_busy(
            True,
            "Building the demo: a small model learns coloured shapes on this computer "
            "(a few minutes the first time, then it is reused)…",
        )
        self._worker = self._pool.start(
            build_demo_task(self.demo_sizes),
            "build demo",
            on_progress=lambda line: self.demo_log.appendPlainText(str(line)),
            on_result=self._demo_built,
            on_error=self._failed,
            on_cancelled=self._cancelled,
        )

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self.progress_label.setText("Stopping…")

    def _start_export(self, model: str) -> None:
        state = model_state(model)
        if state.bundle is not None:
            self.model_ready.emit(state.bundle)
            return
        self._not_the_demo()
        self.show_error(None)
        self._set_busy(True, "Preparing the model for fast search (one time)…")
        self.progress.setRange(0, 0)
        self._worker = self._pool.start(
            export_bundle_task(model),
            "export bundle",
            on_progress=lambda line: self.progress_label.setText(f"Preparing the model: {line}"),
            on_result=self._bundle_ready,
            on_error=lambda error: self._failed(error, "prepare"),
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

    def _demo_built(self, demo: BuiltDemo) -> None:
        self._set_busy(False)
        try:
            self.demo_app = open_demo_app(demo)
        except OSError as exc:
            self.show_error(
                f"The demo is ready in {demo.home}, but its window did not start: {exc}"
            )
            return
        self.demo_log.appendPlainText(f"opened the demo: {demo.indexed} pictures in {demo.photos}")
        self.progress_label.setText(
            "The demo opened in a window of its own; close it when you are done. It keeps its "
            f"files in {demo.home}: your settings and library were not touched. Set up a model "
            "for your own photos here whenever you like."
        )
        self.progress_label.show()
        self.demo_button.setText("Open the demo again")
        self.demo_opened.emit(self.demo_app)
        QTimer.singleShot(DEMO_START_CHECK_MS, self._check_demo_app)

    def _check_demo_app(self) -> None:
        """Say so when the demo's window quit with an error right after it started."""
        app = self.demo_app
        if app is None or app.process.poll() in (None, 0):
            return
        try:
            lines = app.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError as exc:
            lines = [f"(its log {app.log} cannot be read: {exc})"]
        last = lines[-1] if lines else "no output"
        self.show_error(
            f"The demo window closed right away (exit code {app.process.returncode}): {last}. "
            f"Full log: {app.log}"
        )

    def _failed(self, error: BaseException, step: Step | None = None) -> None:
        """Say what failed in one sentence; the exception's full text goes behind Details."""
        self._set_busy(False)
        message = describe_failure(error, step)
        # The worker logged the traceback; this line ties it to what the user was told.
        log.warning(
            "%s failed: %s\n%s", step or "a first-run step", message.summary, message.details
        )
        self.show_error(message.summary, message.details)

    def _cancelled(self) -> None:
        self._set_busy(False)
        self.progress_label.setText(self._cancelled_text)
        self.progress_label.show()

    # --- widgets -------------------------------------------------------------------------------

    def _not_the_demo(self) -> None:
        """A download, import or export starts: the demo's log and wording go away."""
        self._cancelled_text = "Cancelled. Nothing was kept; you can start again."
        self.demo_log.hide()

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

    def show_error(self, message: str | None, details: str | None = None) -> None:
        """Show ``message`` (one sentence) with Retry, and ``details`` behind the Details button;
        ``None`` clears the error."""
        shown = message is not None
        self.error_label.setText(message or "")
        self.error_label.setVisible(shown)
        self.retry_button.setVisible(shown)
        self.details.setPlainText(details or "")
        self.details_button.setVisible(shown and bool(details))
        self.details_button.setChecked(False)
        self._show_details(False)

    def _show_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        arrow = Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        self.details_button.setArrowType(arrow)

    @property
    def busy(self) -> bool:
        return self._worker is not None
