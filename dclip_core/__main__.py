from __future__ import annotations

from dclip_core.cli import run

run()
