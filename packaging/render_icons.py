"""Render the application icon (resources/icons/dclip.svg) to the PNG sizes of the hicolor theme.

Run after changing the SVG; the PNGs are committed (resources/icons/png/dclip-<size>.png), so
neither a build nor an install needs Qt's SVG renderer at that moment:

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/render_icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[1] / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)  # the hicolor sizes desktops look up


def render(svg: Path, size: int, out: Path) -> None:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"{out}: could not write")


def main() -> int:
    app = QGuiApplication(sys.argv[:1])  # noqa: F841 - QImage/QPainter need an application
    for size in SIZES:
        render(ROOT / "dclip.svg", size, ROOT / "png" / f"dclip-{size}.png")
    print(f"wrote {len(SIZES)} PNGs to {ROOT / 'png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
