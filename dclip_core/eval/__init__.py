"""Retrieval and zero-shot evaluation."""

from __future__ import annotations
