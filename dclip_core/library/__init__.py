"""The photo library: scanning, decoding, the SQLite store, the ANN index, indexing and search.

Torch-free: it embeds through :mod:`dclip_core.runtime` only.
"""

from __future__ import annotations
