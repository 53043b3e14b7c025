"""Entry point of ``dclip-app`` (also ``python -m dclip_app``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from dclip_core.config.paths import HOME_ENV


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dclip-app", description="DCLIP photo search")
    parser.add_argument(
        "--home", metavar="DIR", help=f"keep every file under DIR (same as {HOME_ENV}=DIR)"
    )
    parser.add_argument(
        "--banner", metavar="TEXT", help="show TEXT above the search bar (used by `dclip demo`)"
    )
    # Qt's own options (-platform, -style …) pass through.
    args, _unknown = parser.parse_known_args(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.home:
        os.environ[HOME_ENV] = os.path.abspath(os.path.expanduser(args.home))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from dclip_app.app import create_main_window

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = create_main_window(app)  # type: ignore[arg-type]
    if args.banner:
        window.show_banner(args.banner)
    window.show()
    # Open the library and the model once the window is on screen.
    QTimer.singleShot(0, window.start)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
