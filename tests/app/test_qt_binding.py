"""The Qt binding the app runs on keeps Python's reference counts right.

PySide6 6.12.0 dropped a reference to ``None`` on every call returning nothing; before Python 3.12
(where ``None`` became immortal) a window that paints aborts with "none_dealloc" after a few
thousand calls (docs/adr/0024-pyside6-pin.md). This fails at once on such a build.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QApplication, QLabel


def test_calls_returning_nothing_keep_none_alive(qapp: QApplication) -> None:
    image = QImage(16, 16, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(500):
        painter.setPen(QColor("red"))
        painter.drawEllipse(QPointF(8, 8), 4, 4)
        label.setText("x")
    after = sys.getrefcount(None)
    painter.end()
    assert after >= before - 50  # a few Nones may be freed elsewhere; 1,500 were lost on 6.12.0
