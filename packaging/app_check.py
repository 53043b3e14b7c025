"""Start the app offscreen, let it open its library and model, and report what a user would see.

Used by packaging/smoke.sh through the frozen executable (``dclip-app __dclip-app-check__``) and by
tests/packaging against a wheel install (``python packaging/app_check.py``): both check the same
things, so a build that lost its Qt plugins, icons or stylesheet fails here.

Prints one JSON object and exits 0 when the window has its icon (SVG through Qt's plugins), the
stylesheet is applied, and, with ``--expect-library``, the library page is shown (a model loaded).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="app_check")
    parser.add_argument("--home", help="DCLIP home to start the app on")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long the app runs")
    parser.add_argument("--expect-library", action="store_true", help="a model must be loaded")
    args = parser.parse_args(argv)
    if args.home:
        os.environ["DCLIP_HOME"] = os.path.abspath(args.home)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QCoreApplication, QEventLoop
    from PySide6.QtGui import QImageReader
    from PySide6.QtWidgets import QApplication

    from dclip_app.app import create_main_window
    from dclip_app.main_window import LIBRARY_PAGE

    started = time.perf_counter()
    app = QApplication(sys.argv[:1])
    window = create_main_window(app)
    window.show()
    window.start()
    shown_s = time.perf_counter() - started
    deadline = time.perf_counter() + args.seconds
    while time.perf_counter() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.02)
    pixmap = app.windowIcon().pixmap(64, 64)
    report = {
        "window_title": window.windowTitle(),
        "icon": not app.windowIcon().isNull() and not pixmap.isNull(),
        "icon_has_pixels": bool(not pixmap.isNull() and pixmap.toImage().pixel(32, 32) != 0),
        "stylesheet_chars": len(app.styleSheet()),
        "page": "library" if window.pages.currentIndex() == LIBRARY_PAGE else "first-run",
        "image_formats": sorted(
            bytes(f.data()).decode() for f in QImageReader.supportedImageFormats()
        ),
        "shown_s": round(shown_s, 3),
    }
    window.close()
    QCoreApplication.processEvents()
    print(json.dumps(report))
    ok = report["icon"] and report["icon_has_pixels"] and report["stylesheet_chars"] > 0
    ok = ok and "svg" in report["image_formats"]
    if args.expect_library:
        ok = ok and report["page"] == "library"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
