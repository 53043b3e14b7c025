"""Page 5, Evaluate: base vs fine-tuned on the held-out photos, as a table, bars and the verdict.

The numbers come from the run's ``evaluation`` and ``verdict`` events; a run re-attached after its
events were cut short falls back to ``<run>/eval.json`` (:func:`read_eval_file`).
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from dclip_app.finetune.charts import MetricBars
from dclip_app.finetune.context import WizardContext
from dclip_app.finetune.run_state import RunState

EVAL_FILE = "eval.json"


def read_eval_file(run_dir: Path, state: RunState) -> None:
    """Fill ``state``'s table and verdict from ``<run>/eval.json`` when its events had none."""
    if state.rows and state.verdict:
        return
    try:
        data = json.loads((run_dir / EVAL_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    held_out = data.get("held_out") or {}
    state.apply({"event": "evaluation", "rows": data.get("rows") or [], **held_out})
    if isinstance(data.get("verdict"), dict):
        state.apply({"event": "verdict", **data["verdict"]})


class EvaluatePage(QWizardPage):
    """What fine-tuning changed, measured on photos it never trained on."""

    def __init__(self, context: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setTitle("Did it help?")
        self.setSubTitle(
            "Both models searched the held-out photos (never trained on) with their captions."
        )
        self.verdict = QLabel()
        self.verdict.setObjectName("verdict")
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["measure", "base", "fine-tuned", "change"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.bars = MetricBars()
        self.held_out = QLabel()
        self.held_out.setObjectName("hint")
        layout = QVBoxLayout(self)
        layout.addWidget(self.verdict)
        layout.addWidget(self.table)
        layout.addWidget(self.bars, 1)
        layout.addWidget(self.held_out)

    def initializePage(self) -> None:  # noqa: N802 - Qt's name
        state = self.context.state
        if state.run_dir is not None:
            read_eval_file(state.run_dir, state)
        self.show_state(state)

    def show_state(self, state: RunState) -> None:
        self.table.setRowCount(len(state.rows))
        for row, metric in enumerate(state.rows):
            cells = (
                metric.label,
                f"{metric.base:.1f} %",
                f"{metric.student:.1f} %",
                f"{metric.change_points:+.1f} points",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                if column:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(row, column, item)
        self.table.resizeRowsToContents()
        header = self.table.horizontalHeader().sizeHint().height()
        self.table.setFixedHeight(
            self.table.verticalHeader().length() + header + 2 * self.table.frameWidth()
        )
        self.bars.set_rows(state.rows)
        color = "#1f8a4c" if state.helped else "#b35c00"
        verdict = state.verdict or "no evaluation recorded"
        self.verdict.setText(f"<span style='color:{color}; font-size:13pt'>{verdict}</span>")
        if state.held_out_photos:
            self.held_out.setText(
                f"Measured on {state.held_out_photos} held-out photos. A change counts when it is "
                "larger than chance on that many photos."
            )
