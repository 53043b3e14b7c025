"""Entry point of ``dclip-app``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    from dclip_core.config import load_settings

    app = QApplication(sys.argv if argv is None else argv)
    app.setApplicationName("DCLIP")
    settings = load_settings()
    window = QMainWindow()
    window.setWindowTitle("DCLIP")
    window.setCentralWidget(QLabel(f"Active model: {settings.model}"))
    window.resize(900, 600)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
