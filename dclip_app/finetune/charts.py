"""The wizard's two small charts, painted with QPainter (PySide6-Essentials has no QtCharts).

* :class:`LossChart`: the loss of each training stage against its step, one panel per stage (the
  teacher's and the student's losses are on different scales, and each stage counts from step 0).
* :class:`MetricBars`: base vs fine-tuned per metric, in percent, side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from dclip_app.finetune.run_state import MetricRow

BASE_COLOR = QColor("#8a8f98")
TUNED_COLOR = QColor("#2f7de1")
STAGE_COLORS = {"teacher": QColor("#d9822b"), "student": QColor("#2f7de1")}
_MARGIN = 8.0
_AXIS_W = 40.0
_TITLE_H = 18.0
_LABEL_H = 16.0


def _text_color(widget: QWidget) -> QColor:
    return widget.palette().color(QPalette.ColorRole.WindowText)


class LossChart(QWidget):
    """Loss against step, one panel per training stage."""

    def __init__(
        self, stages: Sequence[str] = ("teacher", "student"), parent: QWidget | None = None
    ):
        super().__init__(parent)
        self._stages = list(stages)
        self._points: dict[str, list[tuple[int, float]]] = {s: [] for s in self._stages}
        self.setMinimumHeight(160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("Loss chart")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(520, 200)

    def set_points(self, stage: str, points: Sequence[tuple[int, float]]) -> None:
        """Replace one stage's points, ``(step, loss)`` by step."""
        self._points[stage] = list(points)
        self.update()

    def point_count(self) -> int:
        """How many points are drawn (what a test can check a user sees)."""
        return sum(len(p) for p in self._points.values())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width = (self.width() - _MARGIN) / max(1, len(self._stages))
        for index, stage in enumerate(self._stages):
            panel = QRectF(
                _MARGIN + index * width, _MARGIN, width - _MARGIN, self.height() - 2 * _MARGIN
            )
            painter.save()
            self._paint_panel(painter, panel, stage)
            painter.restore()
        painter.end()

    def _paint_panel(self, painter: QPainter, panel: QRectF, stage: str) -> None:
        text = _text_color(self)
        points = self._points.get(stage, [])
        painter.setPen(text)
        title = f"{stage} loss" + (
            f" (step {points[-1][0]}: {points[-1][1]:.3f})" if points else ""
        )
        painter.drawText(
            QRectF(panel.left(), panel.top(), panel.width(), _TITLE_H),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            title,
        )
        plot = QRectF(
            panel.left() + _AXIS_W,
            panel.top() + _TITLE_H + 4,
            panel.width() - _AXIS_W,
            panel.height() - _TITLE_H - _LABEL_H - 4,
        )
        grid = QColor(text)
        grid.setAlpha(60)
        painter.setPen(QPen(grid, 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(plot)
        if not points:
            painter.setPen(text)
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "waiting for the first step")
            return
        steps = [p[0] for p in points]
        losses = [p[1] for p in points]
        x0, x1 = min(steps), max(max(steps), min(steps) + 1)
        y0, y1 = min(0.0, min(losses)), max(losses) or 1.0
        painter.setPen(text)
        small = painter.font()
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
        painter.setFont(small)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(QRectF(panel.left(), plot.top() - 6, _AXIS_W - 4, 12), right, f"{y1:.2f}")
        painter.drawText(
            QRectF(panel.left(), plot.bottom() - 6, _AXIS_W - 4, 12), right, f"{y0:.2f}"
        )
        below = QRectF(plot.left(), plot.bottom() + 2, plot.width(), _LABEL_H)
        painter.drawText(below, Qt.AlignmentFlag.AlignLeft, str(x0))
        painter.drawText(below, Qt.AlignmentFlag.AlignHCenter, "step")
        painter.drawText(below, Qt.AlignmentFlag.AlignRight, str(x1))

        def at(step: int, loss: float) -> QPointF:
            x = plot.left() + (step - x0) / (x1 - x0) * plot.width()
            y = plot.bottom() - (loss - y0) / ((y1 - y0) or 1.0) * plot.height()
            return QPointF(x, y)

        color = STAGE_COLORS.get(stage, TUNED_COLOR)
        path = QPainterPath(at(*points[0]))
        for step, loss in points[1:]:
            path.lineTo(at(step, loss))
        painter.setPen(QPen(color, 2))
        painter.drawPath(path)
        painter.setBrush(color)
        for step, loss in points[-1:]:
            painter.drawEllipse(at(step, loss), 3, 3)


class MetricBars(QWidget):
    """Base vs fine-tuned bars for each metric row (0–100 %)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[MetricRow] = []
        self.setMinimumHeight(150)
        self.setAccessibleName("Base vs fine-tuned chart")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(520, 180)

    def set_rows(self, rows: Sequence[MetricRow]) -> None:
        self._rows = list(rows)
        self.update()

    def bar_count(self) -> int:
        return 2 * len(self._rows)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = _text_color(self)
        legend_h = 18.0
        area = QRectF(
            _MARGIN,
            _MARGIN + legend_h,
            self.width() - 2 * _MARGIN,
            self.height() - 2 * _MARGIN - legend_h - 2 * _LABEL_H,
        )
        self._paint_legend(painter, text)
        if not self._rows:
            painter.setPen(text)
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "no evaluation yet")
            painter.end()
            return
        slot = area.width() / len(self._rows)
        bar = min(36.0, slot / 3)
        small = painter.font()
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
        painter.setFont(small)
        for index, row in enumerate(self._rows):
            left = area.left() + index * slot + (slot - 2 * bar) / 2
            for offset, (value, color) in enumerate(
                ((row.base, BASE_COLOR), (row.student, TUNED_COLOR))
            ):
                height = max(1.0, area.height() * max(0.0, min(100.0, value)) / 100)
                rect = QRectF(left + offset * bar, area.bottom() - height, bar - 2, height)
                painter.fillRect(rect, color)
                painter.setPen(text)
                painter.drawText(
                    QRectF(rect.left() - 8, rect.top() - 14, rect.width() + 16, 12),
                    Qt.AlignmentFlag.AlignCenter,
                    f"{value:.0f}",
                )
            label = QRectF(area.left() + index * slot, area.bottom() + 2, slot, 2 * _LABEL_H)
            painter.drawText(
                label, Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap, row.label
            )
        painter.end()

    def _paint_legend(self, painter: QPainter, text: QColor) -> None:
        x = _MARGIN
        for name, color in (("base", BASE_COLOR), ("fine-tuned", TUNED_COLOR)):
            painter.fillRect(QRectF(x, _MARGIN + 4, 10, 10), color)
            painter.setPen(text)
            painter.drawText(QRectF(x + 14, _MARGIN, 90, 18), Qt.AlignmentFlag.AlignVCenter, name)
            x += 100
