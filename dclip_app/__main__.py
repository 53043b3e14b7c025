"""Entry point of ``dclip-app`` (also ``python -m dclip_app``).

On Linux, before Qt starts, the X11 libraries of Qt's xcb platform plugin are checked: without
one of them (Qt 6.5+ needs libxcb-cursor0, which many systems lack) Qt aborts with a message about
plugins that does not say what to install. The launcher names the missing libraries and the apt and
dnf lines that add them instead.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dclip_core.config.paths import HOME_ENV


@dataclass(frozen=True)
class SystemLibrary:
    """A shared library Qt loads from the system, and the packages that install it."""

    soname: str
    apt: str  # Debian, Ubuntu
    dnf: str  # Fedora, RHEL


# What PySide6's libqxcb.so and libQt6XcbQpa.so.6 link against from the system (readelf -d,
# PySide6 6.12), less what Qt Core needs anyway (libc, libstdc++, glib). Qt 5 needed
# libxcb-xinerama0; Qt 6 does not.
XCB_LIBRARIES: tuple[SystemLibrary, ...] = (
    SystemLibrary("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    SystemLibrary("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    SystemLibrary("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    SystemLibrary("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    SystemLibrary("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    SystemLibrary("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    SystemLibrary("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    SystemLibrary("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
    SystemLibrary("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    SystemLibrary("libxcb-render.so.0", "libxcb-render0", "libxcb"),
    SystemLibrary("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    SystemLibrary("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    SystemLibrary("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    SystemLibrary("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    SystemLibrary("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    SystemLibrary("libxcb.so.1", "libxcb1", "libxcb"),
    SystemLibrary("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
    SystemLibrary("libX11.so.6", "libx11-6", "libX11"),
    SystemLibrary("libGL.so.1", "libgl1", "libglvnd-glx"),
)

LoadLibrary = Callable[[str], object]
"""Loads a shared library by name, raising ``OSError`` when it cannot (``ctypes.CDLL``)."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dclip-app", description="DCLIP photo search")
    parser.add_argument(
        "--home", metavar="DIR", help=f"keep every file under DIR (same as {HOME_ENV}=DIR)"
    )
    parser.add_argument(
        "--banner", metavar="TEXT", help="show TEXT above the search bar (used by `dclip demo`)"
    )
    # Qt's own options (-style …) are ignored; QT_QPA_PLATFORM picks the platform plugin.
    args, _unknown = parser.parse_known_args(argv)
    return args


def uses_xcb(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt will load its X11 (xcb) platform plugin: on Linux, unless ``QT_QPA_PLATFORM``
    names another one first, or in a Wayland session, where Qt 6 picks Wayland by itself."""
    if not platform.startswith("linux"):
        return False
    # "wayland;xcb" tries each in turn; "xcb:option=value" passes options to the plugin.
    requested = environ.get("QT_QPA_PLATFORM", "")
    names = [entry.split(":")[0].strip() for entry in requested.split(";") if entry.strip()]
    has_wayland = bool(environ.get("WAYLAND_DISPLAY"))
    if not names:
        return not (has_wayland and "wayland" in environ.get("XDG_SESSION_TYPE", ""))
    if names[0].startswith("wayland") and has_wayland:
        return False  # Wayland comes first and is there; xcb is only the fallback
    return "xcb" in names


def missing_xcb_libraries(load: LoadLibrary = ctypes.CDLL) -> list[SystemLibrary]:
    """The libraries of :data:`XCB_LIBRARIES` that the dynamic loader cannot find."""
    missing = []
    for library in XCB_LIBRARIES:
        try:
            load(library.soname)
        except OSError:
            missing.append(library)
    return missing


def missing_libraries_message(missing: Sequence[SystemLibrary]) -> str:
    """What to tell the user: which libraries are missing and the commands that install them."""
    sonames = [library.soname for library in missing]
    names = sonames[0] if len(sonames) == 1 else f"{', '.join(sonames[:-1])} and {sonames[-1]}"
    apt = " ".join(dict.fromkeys(library.apt for library in missing))
    dnf = " ".join(dict.fromkeys(library.dnf for library in missing))
    return (
        f"dclip-app: cannot start: Qt's X11 platform plugin needs {names}, "
        f"which {'is' if len(missing) == 1 else 'are'} not installed.\n"
        "Install, then start dclip-app again:\n"
        f"  Debian/Ubuntu:  sudo apt install {apt}\n"
        f"  Fedora/RHEL:    sudo dnf install {dnf}"
    )


def main(argv: Sequence[str] | None = None, *, load_library: LoadLibrary = ctypes.CDLL) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.home:
        os.environ[HOME_ENV] = os.path.abspath(os.path.expanduser(args.home))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if uses_xcb(os.environ):
        missing = missing_xcb_libraries(load_library)
        if missing:
            print(missing_libraries_message(missing), file=sys.stderr)
            return 1

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
