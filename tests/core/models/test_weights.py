"""Weights cache, download on first use, import, and loading the three file formats."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from dclip_core.config.paths import get_paths
from dclip_core.errors import DownloadError, WeightsError, WeightsMissingError
from dclip_core.models.clip import create_clip
from dclip_core.models.download import sha256_file
from dclip_core.models.registry import ModelSpec, get_model_spec
from dclip_core.models.state_dict import load_state_dict
from dclip_core.models.weights import (
    cached_weights_path,
    detect_weights_format,
    ensure_weights,
    import_weights,
)
from tests.helpers.local_http import LocalFileServer, Route, closed_port_url, serve_files
from tests.helpers.tiny_weights import (
    TinyWeights,
    model_outputs,
    source_model,
    tiny_spec_with_weights,
    write_tiny_weights,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyWeights:
    return write_tiny_weights(tmp_path_factory.mktemp("tiny-weights"))


@pytest.fixture(scope="module")
def server(tiny: TinyWeights) -> Iterator[LocalFileServer]:
    data = tiny.data
    with serve_files() as files:
        files.add("good/tiny.safetensors", Route(data))
        files.add("short/tiny.safetensors", Route(data, truncate_after=len(data) // 2))
        files.add("bad/tiny.safetensors", Route(data[:-4] + b"\0\0\0\0"))
        yield files


def served_spec(server: LocalFileServer, tiny: TinyWeights, *folders: str) -> ModelSpec:
    urls = tuple(server.url(f"{folder}/tiny.safetensors") for folder in folders)
    return tiny_spec_with_weights("tiny-served", urls=urls, sha256=tiny.sha256)


def offline_spec(tiny: TinyWeights) -> ModelSpec:
    """A spec whose only URL refuses connections: any download attempt fails as when offline."""
    return tiny_spec_with_weights(
        "tiny-offline", urls=(closed_port_url("tiny.safetensors"),), sha256=tiny.sha256
    )


def _weights_dir_contents() -> list[str]:
    folder = get_paths().weights_dir
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _assert_same_outputs(model: nn.Module, reference: nn.Module) -> None:
    for got, expected in zip(model_outputs(model), model_outputs(reference), strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


# --- download on first use --------------------------------------------------------------------


def test_first_use_downloads_then_the_cache_is_used(
    server: LocalFileServer, tiny: TinyWeights
) -> None:
    spec = served_spec(server, tiny, "good")
    before = server.requests_for("good/tiny.safetensors")
    assert cached_weights_path(spec) is None

    path = ensure_weights(spec, progress=False)
    again = ensure_weights(spec, progress=False)

    assert path == again == get_paths().weights_dir / "tiny.safetensors"
    assert path.read_bytes() == tiny.data
    assert cached_weights_path(spec) == path
    assert server.requests_for("good/tiny.safetensors") == before + 1
    _assert_same_outputs(create_clip(spec), source_model())


@pytest.mark.parametrize(("folder", "cause"), [("short", "cut short"), ("bad", "sha256 mismatch")])
def test_failed_download_leaves_nothing_the_next_run_would_use(
    server: LocalFileServer, tiny: TinyWeights, folder: str, cause: str
) -> None:
    with pytest.raises(DownloadError, match=cause) as info:
        ensure_weights(served_spec(server, tiny, folder), progress=False)

    assert "dclip models import tiny-served PATH" in str(info.value)
    assert _weights_dir_contents() == []
    good = served_spec(server, tiny, "good")
    assert cached_weights_path(good) is None
    before = server.requests_for("good/tiny.safetensors")
    path = ensure_weights(good, progress=False)
    assert server.requests_for("good/tiny.safetensors") == before + 1
    assert path.read_bytes() == tiny.data


def test_second_url_is_used_when_the_first_fails(
    server: LocalFileServer, tiny: TinyWeights
) -> None:
    path = ensure_weights(served_spec(server, tiny, "short", "good"), progress=False)

    assert path.read_bytes() == tiny.data
    assert _weights_dir_contents() == [".tiny.safetensors.verified", "tiny.safetensors"]


def test_http_404_is_a_download_error_naming_the_file(
    server: LocalFileServer, tiny: TinyWeights
) -> None:
    with pytest.raises(DownloadError, match=r"tiny\.safetensors.*HTTP 404"):
        ensure_weights(served_spec(server, tiny, "nowhere"), progress=False)
    assert _weights_dir_contents() == []


def _assert_both_ways_explained(message: str, spec: ModelSpec) -> None:
    assert spec.weights is not None
    assert "\n" not in message
    assert spec.weights.filename in message
    assert f"`dclip models download {spec.name}`" in message
    assert spec.weights.urls[0] in message
    assert f"`dclip models import {spec.name} PATH`" in message


def test_no_network_says_which_file_and_how_to_provide_it(tiny: TinyWeights) -> None:
    spec = offline_spec(tiny)
    with pytest.raises(WeightsMissingError) as info:
        ensure_weights(spec, progress=False)

    _assert_both_ways_explained(str(info.value), spec)
    assert "refused" in str(info.value)
    assert _weights_dir_contents() == []


def test_offline_mode_does_not_touch_the_network(
    server: LocalFileServer, tiny: TinyWeights, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCLIP_OFFLINE", "1")
    spec = served_spec(server, tiny, "good")
    before = len(server.requests)

    with pytest.raises(WeightsMissingError, match="DCLIP_OFFLINE") as info:
        ensure_weights(spec, progress=False)

    _assert_both_ways_explained(str(info.value), spec)
    assert len(server.requests) == before


def test_download_false_never_connects(server: LocalFileServer, tiny: TinyWeights) -> None:
    spec = served_spec(server, tiny, "good")
    before = len(server.requests)

    with pytest.raises(WeightsMissingError, match="downloading is turned off"):
        create_clip(spec, download=False)

    assert len(server.requests) == before


# --- the cache's own checks --------------------------------------------------------------------


def test_a_file_copied_into_the_cache_by_hand_is_verified_once(tiny: TinyWeights) -> None:
    spec = offline_spec(tiny)
    folder = get_paths().weights_dir
    folder.mkdir(parents=True)
    (folder / "tiny.safetensors").write_bytes(tiny.data)
    assert cached_weights_path(spec) is None  # not verified yet

    path = ensure_weights(spec)

    assert path == folder / "tiny.safetensors"
    assert cached_weights_path(spec) == path


def test_a_damaged_cached_file_is_never_used(server: LocalFileServer, tiny: TinyWeights) -> None:
    spec = served_spec(server, tiny, "good")
    path = ensure_weights(spec, progress=False)
    damaged = bytearray(tiny.data)
    damaged[-1] ^= 0xFF
    path.write_bytes(bytes(damaged))

    assert cached_weights_path(spec) is None
    with pytest.raises(WeightsMissingError, match="damaged"):
        ensure_weights(spec, download=False)
    assert ensure_weights(spec, progress=False).read_bytes() == tiny.data


# --- import --------------------------------------------------------------------------------------


def test_imported_file_is_used_by_create_clip(tiny: TinyWeights) -> None:
    spec = offline_spec(tiny)

    path = import_weights(spec, tiny.path)

    assert path == get_paths().weights_dir / "tiny.safetensors"
    assert cached_weights_path(spec) == path
    model = create_clip(spec)
    _assert_same_outputs(model, source_model())
    # Loading really happened: the spec's own seeded init gives other outputs.
    assert not torch.allclose(model_outputs(model)[0], model_outputs(create_clip("test-tiny"))[0])


def test_import_refuses_a_file_with_another_hash(tiny: TinyWeights, tmp_path: Path) -> None:
    spec = offline_spec(tiny)
    wrong = tmp_path / "wrong.safetensors"
    wrong.write_bytes(tiny.data[:-1])

    with pytest.raises(WeightsError, match=f"expected {tiny.sha256}") as info:
        import_weights(spec, wrong)

    assert str(wrong) in str(info.value)
    assert _weights_dir_contents() == []


def test_import_of_a_missing_file(tiny: TinyWeights, tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="no such file"):
        import_weights(offline_spec(tiny), tmp_path / "nope.safetensors")


def test_random_init_model_has_nothing_to_import(tiny: TinyWeights) -> None:
    with pytest.raises(WeightsError, match="randomly initialised"):
        import_weights(get_model_spec("test-tiny"), tiny.path)


# --- the three formats ---------------------------------------------------------------------------


class _OpenAIStyleArchive(nn.Module):
    """Holds a CLIP's parameters under their own names plus OpenAI's three hyper-parameters."""

    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        for name, child in clip.named_children():
            self.add_module(name, child)
        for name, param in clip.named_parameters(recurse=False):
            self.register_parameter(name, param)
        self.register_buffer("input_resolution", torch.tensor(64))
        self.register_buffer("context_length", torch.tensor(77))
        self.register_buffer("vocab_size", torch.tensor(49408))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        visual: torch.Tensor = self.get_submodule("visual")(image)
        return visual


@pytest.fixture(scope="module")
def openai_jit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TorchScript archive like OpenAI's: fp16, OpenAI key names, three non-parameter keys."""
    archive = _OpenAIStyleArchive(source_model()).half()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow
        traced = torch.jit.trace(archive, torch.zeros(1, 3, 64, 64, dtype=torch.half))
    path = tmp_path_factory.mktemp("openai") / "ViT-tiny.pt"
    traced.save(str(path))
    return path


def test_safetensors_loads_as_saved(tiny: TinyWeights) -> None:
    assert detect_weights_format(tiny.path) == "safetensors"
    loaded = load_state_dict(tiny.path, get_model_spec("test-tiny"))

    assert loaded.keys() == tiny.state_dict.keys()
    for key, value in tiny.state_dict.items():
        assert torch.equal(loaded[key], value), key


def test_openai_jit_archive_loads_with_open_clip_names(
    openai_jit_file: Path, tiny: TinyWeights
) -> None:
    pinned = tiny_spec_with_weights(
        "tiny-openai",
        urls=(closed_port_url("ViT-tiny.pt"),),
        sha256=sha256_file(openai_jit_file),
        filename="ViT-tiny.pt",
    )
    assert detect_weights_format(openai_jit_file) == "openai-jit"

    loaded = load_state_dict(openai_jit_file, pinned)

    assert loaded.keys() == tiny.state_dict.keys()
    assert all(v.dtype == torch.float32 for v in loaded.values() if v.is_floating_point())
    for key, value in tiny.state_dict.items():
        torch.testing.assert_close(loaded[key], value.half().float(), rtol=0, atol=0)
    import_weights(pinned, openai_jit_file)
    model = create_clip(pinned)
    for got, expected in zip(model_outputs(model), model_outputs(source_model()), strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=5e-3)  # fp16 weights


def test_an_unpinned_torchscript_archive_is_refused(openai_jit_file: Path) -> None:
    with pytest.raises(WeightsError, match=r"refusing to load TorchScript archive .*ViT-tiny\.pt"):
        create_clip("test-tiny", weights_path=openai_jit_file)


def test_torch_checkpoint_is_unwrapped(tiny: TinyWeights, tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    ddp_names = {f"module.{k}": v for k, v in tiny.state_dict.items()}
    torch.save({"state_dict": ddp_names, "epoch": 3, "optimizer": {"lr": 1e-5}}, path)

    assert detect_weights_format(path) == "state-dict"
    loaded = load_state_dict(path, get_model_spec("test-tiny"))

    assert loaded.keys() == tiny.state_dict.keys()
    _assert_same_outputs(create_clip("test-tiny", weights_path=path), source_model())


class _Exploit:
    """Pickles into a call that writes a file: loading it must not run that call."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))  # unpickling would create the marker file


def test_untrusted_pickle_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(2), "payload": _Exploit(marker)}, path)

    with pytest.raises(WeightsError, match=r"evil\.pt") as info:
        load_state_dict(path, get_model_spec("test-tiny"))

    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_a_file_that_is_no_weights_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not weights")
    with pytest.raises(WeightsError, match=r"notes\.txt is not a weights file"):
        load_state_dict(path, get_model_spec("test-tiny"))


def test_weights_of_another_architecture_do_not_fit(tiny: TinyWeights, tmp_path: Path) -> None:
    path = tmp_path / "partial.pt"
    partial = {k: v for k, v in tiny.state_dict.items() if not k.startswith("visual.")}
    torch.save(partial, path)

    with pytest.raises(WeightsError, match=r"does not fit model 'test-tiny'.*missing keys"):
        create_clip("test-tiny", weights_path=path)
