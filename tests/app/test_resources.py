"""The app's icons and stylesheet come from DCLIP's installed resources (dclip_resources).

That a wheel carries them, and an install from it finds them, is tests/packaging/test_wheel.py.
"""

from __future__ import annotations

import re
from pathlib import Path

from dclip_app.resources import ICONS_DIR, icon, stylesheet

REPO = Path(__file__).resolve().parents[2]


def icon_names_used_by_the_app() -> set[str]:
    """Every ``icon("name")`` the app's source asks for."""
    names: set[str] = set()
    for source in (REPO / "dclip_app").rglob("*.py"):
        names.update(re.findall(r"""\bicon\(\s*["']([\w-]+)["']""", source.read_text("utf-8")))
    names.update(re.findall(r'"([\w-]+)"', _action_icon_arguments()))
    return names


def _action_icon_arguments() -> str:
    """The menus pass icon names to ``_action(window, text, "name", …)``: those too."""
    text = (REPO / "dclip_app" / "main_menus.py").read_text("utf-8")
    return "\n".join(re.findall(r"_action\(\s*window,\s*\"[^\"]*\",\s*(\"[\w-]+\")", text))


def test_the_resources_have_every_icon_the_app_uses() -> None:
    used = icon_names_used_by_the_app()
    assert {"dclip", "search", "download", "cancel"} <= used  # the scan finds real names
    missing = sorted(name for name in used if not (ICONS_DIR / f"{name}.svg").is_file())
    assert missing == []
    assert ICONS_DIR.parent.name in ("resources", "dclip_resources")  # not dclip_app/
    assert not icon("dclip").isNull()
    assert "FirstRunPanel" in stylesheet()
