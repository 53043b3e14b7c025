"""DCLIP desktop application (PySide6): thin views over :mod:`dclip_core`."""

from __future__ import annotations
