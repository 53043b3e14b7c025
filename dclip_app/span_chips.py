"""The query as chips, one per span, and the colour legend beside the photo.

:class:`SpanChips` lays the query out as typed: each span a checkable chip at its place, the words
between spans as plain text, a span that lies wholly in the bundle's template words (the "a" of
"a {}") as an italic chip. Hovering or clicking a chip asks the window to colour the regions by it;
the window shades the chips back by a region's region→text weights (:meth:`SpanChips.set_shades`).

:class:`ColourLegend` draws the colormap as a bar with the weights it stands for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QEnterEvent, QLinearGradient, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from dclip_app.explain_state import ShadeSet
from dclip_core.explain import SpanRef
from dclip_core.explain.overlay import colour_of

CHIP_STYLE = (
    "QToolButton {{ background: {background}; color: {text}; border: {border}; "
    "border-radius: 10px; padding: 3px 9px; font-size: 13px; }}"
)
IDLE = {"background": "#ffffff", "text": "#1d2733"}


def text_colour_on(rgb: tuple[int, int, int]) -> str:
    """Black or white, whichever reads better on ``rgb`` (relative luminance)."""
    r, g, b = rgb
    return "#111111" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 else "#ffffff"


class SpanChip(QToolButton):
    """One span of the query; ``on_hover(index, entered)`` hears the pointer come and go."""

    def __init__(self, index: int, span: SpanRef, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.span = span
        self.on_hover: Callable[[int, bool], None] | None = None
        self.background: tuple[int, int, int] | None = None
        self.setCheckable(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        text = span.text or "(end of text)"
        self.setText(text if span.chars is not None else f"({text})")
        if span.chars is None:
            font = self.font()
            font.setItalic(True)
            self.setFont(font)
        self.set_background(None)

    def set_background(self, rgb: tuple[int, int, int] | None) -> None:
        self.background = rgb
        colours = (
            IDLE
            if rgb is None
            else {"background": "rgb({}, {}, {})".format(*rgb), "text": text_colour_on(rgb)}
        )
        border = "2px solid #ff40a0" if self.isChecked() else "1px solid #a9b3c0"
        self.setStyleSheet(CHIP_STYLE.format(border=border, **colours))

    def nextCheckState(self) -> None:  # noqa: N802
        # The window decides what is selected (and un-checks the others); see SpanChips.
        pass

    def enterEvent(self, event: QEnterEvent) -> None:  # noqa: N802
        if self.on_hover is not None:
            self.on_hover(self.index, True)
        super().enterEvent(event)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802
        if self.on_hover is not None:
            self.on_hover(self.index, False)
        super().leaveEvent(event)


class SpanChips(QWidget):
    """The query's spans as chips, in the order and places of the query as typed."""

    span_clicked = Signal(int)
    span_hovered = Signal(int)  # -1: the pointer left the chips

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chips: list[SpanChip] = []
        self.selected: int | None = None
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)

    def set_spans(self, query: str, spans: Sequence[SpanRef]) -> None:
        """Lay ``query`` out with a chip for each of ``spans``; nothing selected."""
        while self._layout.count():
            item = self._layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.chips = []
        self.selected = None
        cursor = 0
        for index, span in enumerate(spans):
            if span.chars is not None and span.chars[0] > cursor:
                self._add_words(query[cursor : span.chars[0]])
            chip = SpanChip(index, span)
            chip.on_hover = self._chip_hover
            chip.clicked.connect(lambda _checked=False, i=index: self.span_clicked.emit(i))
            self._layout.addWidget(chip)
            self.chips.append(chip)
            if span.chars is not None:
                cursor = max(cursor, span.chars[1])
        if cursor < len(query):
            self._add_words(query[cursor:])
        self._layout.addStretch(1)

    def _add_words(self, text: str) -> None:
        if text.strip():
            words = QLabel(text.strip())
            words.setObjectName("HelpText")
            words.setToolTip("Not part of any span: the model does not single these words out")
            self._layout.addWidget(words)

    def set_selected(self, index: int | None) -> None:
        self.selected = index
        for chip in self.chips:
            chip.setChecked(chip.index == index)
            chip.set_background(chip.background)

    def set_shades(self, shades: ShadeSet | None, tips: Sequence[str] | None = None) -> None:
        """Colour each chip by ``shades`` (a region's weights over the spans), or plain again."""
        for chip in self.chips:
            chip.set_background(None if shades is None else shades.of(chip.index).rgb)
            if tips is not None:
                chip.setToolTip(tips[chip.index])

    def _chip_hover(self, index: int, entered: bool) -> None:
        self.span_hovered.emit(index if entered else -1)


class ColourLegend(QWidget):
    """The colormap as a bar from 0 to the weight drawn at full colour, with a caption."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colormap = "viridis"
        self.top = 1.0
        self.caption = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(self.sizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(320, 54)

    def set_scale(self, colormap: str, top: float, caption: str) -> None:
        self.colormap, self.top, self.caption = colormap, top, caption
        self.setToolTip(
            f"Colour scale ({colormap}): dark = weight 0, bright = {top:.3f}; "
            "more opaque = stronger"
        )
        self.update()

    def ticks(self) -> list[tuple[float, str]]:
        """(position 0..1 on the bar, the weight written there)."""
        return [(p, f"{p * self.top:.2f}") for p in (0.0, 0.5, 1.0)]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.setPen(palette.color(palette.ColorRole.WindowText))
        painter.drawText(QRectF(0, 0, self.width(), 16), Qt.AlignmentFlag.AlignLeft, self.caption)
        bar = QRectF(4, 20, max(40, self.width() - 8), 12)
        gradient = QLinearGradient(QPointF(bar.left(), 0), QPointF(bar.right(), 0))
        for i in range(17):
            gradient.setColorAt(i / 16, QColor(*colour_of(i / 16, self.colormap)))
        painter.fillRect(bar, gradient)
        for position, text in self.ticks():
            x = bar.left() + position * bar.width()
            painter.drawLine(QPointF(x, bar.bottom()), QPointF(x, bar.bottom() + 4))
            align = (
                Qt.AlignmentFlag.AlignLeft
                if position == 0
                else Qt.AlignmentFlag.AlignRight
                if position == 1
                else Qt.AlignmentFlag.AlignHCenter
            )
            box = QRectF(x - 60 if position else x, bar.bottom() + 4, 60, 16)
            if position == 0.5:
                box = QRectF(x - 30, bar.bottom() + 4, 60, 16)
            elif position == 1:
                box = QRectF(x - 60, bar.bottom() + 4, 60, 16)
            painter.drawText(box, align, text)
        painter.end()
