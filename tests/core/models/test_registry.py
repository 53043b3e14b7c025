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


def test_pretrained_models_come_from_the_hub_first_and_the_cdn_file_pinned_by_sha256() -> None:
    for name in ("clip-vit-b-32", "clip-vit-b-16"):
        hub, cdn = get_model_spec(name).weights_sources
        assert hub.hub is not None
        assert hub.hub.repo_id.startswith("timm/")
        assert hub.format == "safetensors"
        assert cdn.hub is None
        assert cdn.format == "openai-jit"
        assert cdn.sha256 is not None
        assert len(cdn.sha256) == 64
        assert cdn.sha256 in cdn.urls[0]  # OpenAI publishes each file under its sha256


def test_the_default_model_pins_its_hub_revision() -> None:
    hub = get_model_spec("clip-vit-b-32").weights_sources[0].hub
    assert hub is not None
    assert hub.revision == "ab5b8ef490e86faa07d3523926b842c765de1de5"


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownModelError, match="clip-vit-b-32"):
        get_model_spec("clip-vit-b32")


@pytest.mark.parametrize(
    "name", [spec.name for spec in list_model_specs() if spec.parameters_sha256 is not None]
)
def test_recorded_parameter_signatures_match_the_architectures(name: str) -> None:
    """An import recognises a model's weights file by this signature, without torch."""
    from dclip_core.models.state_dict import architecture_parameters_sha256

    spec = get_model_spec(name)
    assert spec.parameters_sha256 == architecture_parameters_sha256(spec)
