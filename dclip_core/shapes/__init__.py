"""Generated datasets (the shapes world) used by benchmarks, tests and the offline demo."""

from __future__ import annotations
