"""ONNX export of DCLIP models into model bundles (torch)."""

from __future__ import annotations
