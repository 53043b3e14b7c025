"""Shared, expensive setup of the library tests: the test-tiny encoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from dclip_core.runtime.encoders import ClipEncoder


@pytest.fixture(scope="session")
def tiny_encoder(tiny_bundle: Path) -> ClipEncoder:
    """The exported test-tiny model, loaded once for every library test."""
    return ClipEncoder.load(tiny_bundle, provider="cpu")
