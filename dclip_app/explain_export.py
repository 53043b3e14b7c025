"""Writing what the explain window shows: the overlay as PNG, the numbers as JSON.

The PNG is the canvas (photo, coloured boxes, their tags) at the display copy's resolution with a
footer: the span or region shown, the method and view, the colour bar, and "not meaningful" when
the weights are not. The JSON is :func:`dclip_app.explain_state.export_json`: regions, spans and
every layer and head of both directions, plus the view and the colours shown. Both are written
atomically, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QLinearGradient, QPainter

from dclip_app.explain_state import caveat_sentence, view_words
from dclip_core.config.paths import atomic_write_bytes, atomic_write_text
from dclip_core.explain import AttentionView, Explanation
from dclip_core.explain.overlay import colour_of

FOOTER_LINE_PX = 18


def footer_lines(caption: str, explanation: Explanation, view: AttentionView) -> list[str]:
    """What the picture shows (the legend's caption, method, view) and any caveat."""
    lines = [f"{caption} — {explanation.method}, {view_words(view, explanation)}"]
    caveat = caveat_sentence(explanation)
    return [*lines, caveat] if caveat else lines


def overlay_png(image: QImage, lines: list[str], colormap: str, top: float) -> bytes:
    """``image`` with a footer of ``lines`` and the colour bar from 0 to ``top``, as PNG bytes."""
    footer = FOOTER_LINE_PX * (len(lines) + 1) + 12
    width = max(image.width(), 480)
    sheet = QImage(width, image.height() + footer, QImage.Format.Format_RGB32)
    sheet.fill(QColor(24, 24, 28))
    painter = QPainter(sheet)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.drawImage(0, 0, image)
    font = QFont()
    font.setPixelSize(13)
    painter.setFont(font)
    y = image.height() + 6
    for line in lines:
        painter.setPen(
            QColor(255, 210, 90) if line.startswith("Not meaningful") else QColor(235, 235, 235)
        )
        painter.drawText(QRectF(8, y, width - 16, FOOTER_LINE_PX), Qt.AlignmentFlag.AlignLeft, line)
        y += FOOTER_LINE_PX
    bar = QRectF(8, y + 3, min(260, width - 120), 10)
    gradient = QLinearGradient(QPointF(bar.left(), 0), QPointF(bar.right(), 0))
    for i in range(17):
        gradient.setColorAt(i / 16, QColor(*colour_of(i / 16, colormap)))
    painter.fillRect(bar, gradient)
    painter.setPen(QColor(235, 235, 235))
    painter.drawText(
        QRectF(bar.right() + 8, y, 200, FOOTER_LINE_PX),
        Qt.AlignmentFlag.AlignLeft,
        f"weight 0 … {top:.2f}",
    )
    painter.end()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    sheet.save(buffer, "PNG")  # type: ignore[call-overload]  # stubs say bytes; only str works
    data: QByteArray = buffer.data()
    return bytes(data.data())


def write_png(path: Path, data: bytes) -> Path:
    atomic_write_bytes(path, data)
    return path


def write_json(path: Path, data: dict[str, Any]) -> Path:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path
