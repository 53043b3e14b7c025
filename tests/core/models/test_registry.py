from __future__ import annotations

import pytest

from dclip_core.errors import UnknownModelError
from dclip_core.models import get_model_spec, list_model_specs


def test_builtin_models_are_registered() -> None:
    names = {spec.name for spec in list_model_specs()}
    assert {"clip-vit-b-32", "clip-vit-b-16", "test-tiny"} <= names


def test_test_tiny_needs_no_download_and_says_it_is_meaningless() -> None:
    spec = get_model_spec("test-tiny")
    assert not spec.needs_download
    assert spec.meaningless


def test_pretrained_models_pin_a_sha256() -> None:
    for name in ("clip-vit-b-32", "clip-vit-b-16"):
        weights = get_model_spec(name).weights
        assert weights is not None
        assert len(weights.sha256) == 64


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownModelError, match="clip-vit-b-32"):
        get_model_spec("clip-vit-b32")
