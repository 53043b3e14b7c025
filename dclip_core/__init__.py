"""DCLIP core: models, training, ONNX export, the torch-free runtime, the photo library and the CLI.

Nothing in this package imports Qt. ``dclip_core.runtime`` and ``dclip_core.library`` never import
torch, open_clip or ultralytics, so that searching starts fast; import-linter enforces both rules.
"""

from __future__ import annotations

__version__ = "0.1.0"
