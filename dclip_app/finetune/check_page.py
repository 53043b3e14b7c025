"""Page 2, Check: ``dclip finetune --check-only`` on the chosen data, shown before training.

The check runs as a short child on the wizard's worker pool (it reads every photo once). The page
shows the counts, the train/held-out split, what was left out and why, the warnings, and a few
training photos with their captions; Next stays disabled while the data is refused, with the
check's one-line reason.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImageReader, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from dclip_app.child_process import parse_event, run_child
from dclip_app.finetune.check_report import CheckReport, read_check
from dclip_app.finetune.commands import check_command
from dclip_app.finetune.context import WizardContext
from dclip_app.workers import TaskCancelled, TaskControl, WorkerPool

THUMB = QSize(112, 112)


def _check_task(command: list[str]) -> object:
    def task(control: TaskControl) -> CheckReport:
        output = run_child(command, control, request_stop=lambda p: p.terminate())
        if control.cancelled:
            raise TaskCancelled
        return read_check([parse_event(line) for line in output.lines], output.error_line())

    return task


def load_thumbnail(path: Path, size: QSize = THUMB) -> QPixmap:
    """The photo scaled to fit ``size`` (decoded at that size), or an empty pixmap."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    full = reader.size()
    if full.isValid():
        reader.setScaledSize(full.scaled(size, Qt.AspectRatioMode.KeepAspectRatio))
    return QPixmap.fromImage(reader.read())


def _show_text(label: QLabel, text: str) -> None:
    """Set ``label``'s text and show it only when there is some (empty lines take room)."""
    label.setText(text)
    label.setVisible(bool(text))


def _device_line(report: CheckReport | None = None) -> str:
    """The device and the measured time, or what they will be when not measured."""
    if report is not None and report.estimate:
        return f"Time: {report.estimate}."  # the sentence names the device and the steps timed
    device = (
        f"Device: a CUDA GPU when this computer has one, else this CPU ({os.cpu_count()} cores)."
    )
    if report is None:
        return f"{device} Measuring a few training steps for the time estimate…"
    why = f" ({report.estimate_error})" if report.estimate_error else ""
    return f"{device} Time: measured again as training starts{why}."


class CheckPage(QWizardPage):
    """Runs the data check whenever the Data page's choice changed, then shows it."""

    def __init__(
        self, context: WizardContext, pool: WorkerPool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.pool = pool
        self.report: CheckReport | None = None
        self._running = False
        self.setTitle("Checking your photos")
        self.setSubTitle("Every photo is opened once; nothing is written.")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.counts = QLabel()
        self.split = QLabel()
        self.error = QLabel()
        self.error.setObjectName("problem")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.warnings = QLabel()
        self.warnings.setObjectName("warning")
        self.warnings.setWordWrap(True)
        self.device = QLabel(_device_line())
        self.device.setWordWrap(True)
        self.device.setObjectName("hint")
        self.samples = QGridLayout()
        self.again = QPushButton("Check again")
        self.again.clicked.connect(self.run_check)
        layout = QVBoxLayout(self)
        for widget in (self.busy, self.counts, self.split, self.error, self.problems):
            layout.addWidget(widget)
        layout.addWidget(self.warnings)
        self.samples_title = QLabel("A few photos it will train on:")
        layout.addWidget(self.samples_title)
        layout.addLayout(self.samples)
        layout.addWidget(self.device)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.again)
        layout.addLayout(row)
        layout.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802 - Qt's name
        spec = self.context.sources()
        if self.report is None or self.context.checked_spec != "|".join(spec):
            self.run_check()

    def run_check(self) -> None:
        """Start the check child for the current data (its answer arrives on the GUI thread)."""
        if self._running:
            return
        self._running = True
        self.report = None
        self.context.checked_spec = "|".join(self.context.sources())
        self._show(None)
        command = check_command(self.context.sources(), self.context.model, self.context.extra_args)
        self.pool.start(
            _check_task(command),  # type: ignore[arg-type]
            "fine-tune data check",
            on_result=self._checked,
            on_error=lambda exc: self._checked(CheckReport(refused=str(exc))),
            on_finished=self._finished,
        )

    def _finished(self) -> None:
        self._running = False
        self.again.setEnabled(True)

    def _checked(self, report: CheckReport) -> None:
        self.report = report
        self.context.check = report
        self._show(report)
        self.completeChanged.emit()

    def _show(self, report: CheckReport | None) -> None:
        self.busy.setVisible(report is None)
        self.again.setEnabled(report is not None)
        if report is None:
            _show_text(self.counts, "Reading your photos and captions…")
            _show_text(self.device, _device_line())
            for label in (self.split, self.error, self.problems, self.warnings):
                _show_text(label, "")
            self.samples_title.hide()
            self._show_samples([])
            return
        _show_text(self.counts, f"<b>{report.counts_line()}</b>" if report.photos else "")
        _show_text(self.split, f"Split: {report.split_line()}" if report.usable else "")
        _show_text(self.error, f"Cannot train on this: {report.refused}" if report.refused else "")
        _show_text(self.problems, "<br>".join(f"• {p}" for p in report.problems))
        _show_text(self.warnings, "<br>".join(f"⚠ {w}" for w in report.warnings))
        self.samples_title.setVisible(bool(report.samples))
        self._show_samples(report.samples)
        _show_text(self.device, _device_line(report) if report.usable else "")

    def _show_samples(self, samples: list[tuple[Path, str]]) -> None:
        while self.samples.count():
            item = self.samples.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for column, (path, caption) in enumerate(samples[:4]):
            picture = QLabel()
            picture.setFixedSize(THUMB)
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            picture.setPixmap(load_thumbnail(path))
            text = QLabel(caption)
            text.setWordWrap(True)
            text.setMaximumWidth(220)
            text.setToolTip(path.name)
            self.samples.addWidget(picture, 0, column)
            self.samples.addWidget(text, 1, column, Qt.AlignmentFlag.AlignTop)

    def isComplete(self) -> bool:  # noqa: N802 - Qt's name
        return self.report is not None and self.report.usable

    def cleanupPage(self) -> None:  # noqa: N802 - Qt's name
        """Back to Data: keep the report; a changed choice is checked again."""
