"""Teacher training and student distillation (torch)."""

from __future__ import annotations
