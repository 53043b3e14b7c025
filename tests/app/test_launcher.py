"""``dclip-app`` on a Linux machine without the X11 libraries Qt needs: instead of Qt's message
about platform plugins, one message naming each missing library and the apt and dnf lines that
install it. A fake loader stands for the system, so these tests do not depend on this machine."""

from __future__ import annotations

import pytest

from dclip_app.__main__ import XCB_LIBRARIES, main, missing_xcb_libraries, uses_xcb

ABSENT = {"libxcb-cursor.so.0", "libxcb-icccm.so.4"}


def fake_loader(name: str) -> object:
    """Loads every library except those in ABSENT, like ``ctypes.CDLL`` (OSError on a miss)."""
    if name in ABSENT:
        raise OSError(f"{name}: cannot open shared object file: No such file or directory")
    return object()


def test_a_missing_library_stops_the_launcher_with_the_packages_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert main([], load_library=fake_loader) == 1
    err = capsys.readouterr().err
    assert "libxcb-cursor.so.0 and libxcb-icccm.so.4" in err
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4\n" in err
    assert "sudo dnf install xcb-util-cursor xcb-util-wm" in err
    assert "libxcb-keysyms" not in err  # only what is missing
    assert len(err.splitlines()) <= 4


def test_every_library_is_checked() -> None:
    def nothing_installed(name: str) -> object:
        raise OSError(name)

    missing = missing_xcb_libraries(nothing_installed)
    assert missing == list(XCB_LIBRARIES)
    assert "libxcb-cursor.so.0" in {library.soname for library in missing}  # new in Qt 6.5
    assert missing_xcb_libraries(fake_loader) == [
        library for library in XCB_LIBRARIES if library.soname in ABSENT
    ]


def test_nothing_missing_finds_nothing() -> None:
    assert missing_xcb_libraries(lambda name: object()) == []


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({"QT_QPA_PLATFORM": "wayland"}, "linux", False),
        ({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, "linux", False),
        ({"QT_QPA_PLATFORM": "wayland;xcb", "WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux", True),  # no Wayland here: falls back to X11
        ({"QT_QPA_PLATFORM": "xcb:dpi=96"}, "linux", True),
        ({}, "darwin", False),
        ({}, "win32", False),
    ],
)
def test_only_an_x11_start_on_linux_is_checked(
    environ: dict[str, str], platform: str, expected: bool
) -> None:
    assert uses_xcb(environ, platform) is expected
