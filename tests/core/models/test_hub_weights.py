"""Weights from the Hugging Face Hub (through huggingface_hub and HF_ENDPOINT) with a CDN fallback.

A fake Hub on 127.0.0.1 answers ``resolve`` as the real one does (302 to LFS storage with the
commit, the declared sha256 and the size); the "CDN" is a plain file server.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from dclip_core.cli import main
from dclip_core.config.paths import get_paths
from dclip_core.errors import DownloadError, WeightsError, WeightsMissingError
from dclip_core.models.clip import create_clip
from dclip_core.models.registry import HubFile, ModelSpec, WeightsSource, hub_weights
from dclip_core.models.state_dict import architecture_parameters_sha256
from dclip_core.models.weights import cached_weights_path, ensure_weights, import_weights
from tests.helpers.local_http import (
    FakeHub,
    LocalFileServer,
    Route,
    closed_port_url,
    serve_files,
    serve_hub,
)
from tests.helpers.tiny_weights import (
    TinyWeights,
    model_outputs,
    source_model,
    tiny_spec_with_weights,
    write_tiny_weights,
)

FILE = "open_clip_model.safetensors"
C1 = "1" * 40
C2 = "2" * 40


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyWeights:
    return write_tiny_weights(tmp_path_factory.mktemp("tiny-weights"))


@pytest.fixture(scope="module")
def fake_hub() -> Iterator[FakeHub]:
    with serve_hub() as hub:
        yield hub


@pytest.fixture(scope="module")
def cdn(tiny: TinyWeights) -> Iterator[LocalFileServer]:
    with serve_files() as files:
        files.add("cdn/tiny.safetensors", Route(tiny.data))
        yield files


@pytest.fixture(autouse=True)
def _hf_endpoint(monkeypatch: pytest.MonkeyPatch, fake_hub: FakeHub) -> None:
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def hub_spec(
    repo_id: str,
    *,
    revision: str | None = None,
    sha256: str | None = None,
    cdn_url: str | None = None,
    cdn_sha256: str | None = None,
) -> ModelSpec:
    """test-tiny whose weights live on the (fake) Hub, with an optional plain-URL fallback."""
    fallback = ()
    if cdn_url is not None:
        fallback = (
            WeightsSource(
                filename="tiny-cdn.safetensors",
                urls=(cdn_url,),
                sha256=cdn_sha256,
                format="safetensors",
                label="CDN",
            ),
        )
    base = tiny_spec_with_weights("tiny-hub", urls=("unused",), sha256="0" * 64)
    return dataclasses.replace(
        base,
        weights=hub_weights(
            "tiny-hub.safetensors", HubFile(repo_id, FILE, revision), sha256=sha256
        ),
        fallback_weights=fallback,
        parameters_sha256=architecture_parameters_sha256(base),
    )


def _cache() -> Path:
    return get_paths().weights_dir


def _contents() -> list[str]:
    return sorted(p.name for p in _cache().iterdir()) if _cache().exists() else []


def _stamp(name: str) -> dict[str, object]:
    stamp: dict[str, object] = json.loads((_cache() / f".{name}.verified").read_text())
    return stamp


def test_hub_file_is_verified_recorded_and_loaded(fake_hub: FakeHub, tiny: TinyWeights) -> None:
    fake_hub.publish("t/ok", FILE, tiny.data, commit=C1)
    spec = hub_spec("t/ok", revision=C1)
    calls: list[tuple[int, int | None]] = []

    path = ensure_weights(spec, progress=lambda done, total: calls.append((done, total)))

    assert path == _cache() / "tiny-hub.safetensors"
    assert path.read_bytes() == tiny.data
    assert _contents() == [".tiny-hub.safetensors.verified", "tiny-hub.safetensors"]
    assert _stamp("tiny-hub.safetensors")["revision"] == C1
    assert _stamp("tiny-hub.safetensors")["sha256"] == tiny.sha256
    assert calls[-1] == (len(tiny.data), len(tiny.data))
    requests = len(fake_hub.hub.log)
    model = create_clip(spec)  # from the cache: no request
    assert len(fake_hub.hub.log) == requests
    for got, want in zip(model_outputs(model), model_outputs(source_model()), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_cli_download_shows_a_progress_bar(
    fake_hub: FakeHub, tiny: TinyWeights, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_hub.publish("t/bar", FILE, tiny.data, commit=C1)

    ensure_weights(hub_spec("t/bar", revision=C1), progress=True)

    err = capsys.readouterr().err
    assert "tiny-hub.safetensors" in err
    assert "100%" in err


def test_hub_404_falls_back_to_the_cdn(
    fake_hub: FakeHub, cdn: LocalFileServer, tiny: TinyWeights
) -> None:
    spec = hub_spec(
        "t/missing", revision=C1, cdn_url=cdn.url("cdn/tiny.safetensors"), cdn_sha256=tiny.sha256
    )

    path = ensure_weights(spec, progress=False)

    assert path == _cache() / "tiny-cdn.safetensors"
    assert path.read_bytes() == tiny.data
    assert len(fake_hub.resolve_requests("t/missing", FILE)) == 1
    assert cached_weights_path(spec) == path


def test_a_transfer_cut_short_is_fetched_again(fake_hub: FakeHub, tiny: TinyWeights) -> None:
    blob = fake_hub.publish(
        "t/short", FILE, tiny.data, commit=C1, truncate_after=1000, truncate_times=1
    )

    path = ensure_weights(hub_spec("t/short", revision=C1), progress=False)

    assert path.read_bytes() == tiny.data
    assert len(fake_hub.storage.gets_of(blob)) >= 2  # huggingface_hub asked again


def test_wrong_bytes_are_refused_and_asked_for_again(fake_hub: FakeHub, tiny: TinyWeights) -> None:
    blob = fake_hub.publish("t/flip", FILE, tiny.data, commit=C1, corrupt_times=1)

    path = ensure_weights(hub_spec("t/flip", revision=C1), progress=False)

    assert path.read_bytes() == tiny.data
    assert len(fake_hub.storage.gets_of(blob)) == 2


def test_bytes_that_never_match_the_declared_hash_are_refused(
    fake_hub: FakeHub, tiny: TinyWeights
) -> None:
    fake_hub.publish("t/liar", FILE, tiny.data, commit=C1, declared_sha256="f" * 64)

    with pytest.raises(DownloadError, match="sha256 mismatch") as info:
        ensure_weights(hub_spec("t/liar", revision=C1), progress=False)

    assert "`dclip models import tiny-hub PATH`" in str(info.value)
    assert _contents() == []


def test_a_pinned_hash_other_than_the_declared_one_is_refused_before_downloading(
    fake_hub: FakeHub, tiny: TinyWeights
) -> None:
    blob = fake_hub.publish("t/pinned", FILE, tiny.data, commit=C1)

    with pytest.raises(DownloadError, match=f"DCLIP expects {'e' * 64}"):
        ensure_weights(hub_spec("t/pinned", revision=C1, sha256="e" * 64), progress=False)

    assert fake_hub.storage.gets_of(blob) == []


def test_an_answer_from_another_commit_than_the_pinned_one_is_refused(
    fake_hub: FakeHub, tiny: TinyWeights
) -> None:
    fake_hub.publish("t/moved", FILE, tiny.data, commit=C2, branches=(C1,))

    with pytest.raises(DownloadError, match=f"commit {C2}, not the pinned {C1}"):
        ensure_weights(hub_spec("t/moved", revision=C1), progress=False)


def test_both_sources_failing_names_both_and_the_import_command(
    fake_hub: FakeHub, cdn: LocalFileServer
) -> None:
    spec = hub_spec("t/gone", revision=C1, cdn_url=cdn.url("cdn/gone.pt"), cdn_sha256="0" * 64)

    with pytest.raises(DownloadError) as info:
        ensure_weights(spec, progress=False)

    message = str(info.value)
    assert "\n" not in message
    assert f"{fake_hub.endpoint}/t/gone/resolve/{C1}/{FILE}: HTTP 404" in message
    assert f"{cdn.url('cdn/gone.pt')}: HTTP 404" in message
    assert "`dclip models import tiny-hub PATH`" in message
    assert _contents() == []


def test_no_network_names_both_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url().rsplit("/", 1)[0])
    spec = hub_spec("t/any", revision=C1, cdn_url=closed_port_url("tiny.pt"), cdn_sha256="0" * 64)

    with pytest.raises(WeightsMissingError) as info:
        ensure_weights(spec, progress=False)

    message = str(info.value)
    assert "tiny-hub.safetensors or tiny-cdn.safetensors" in message
    assert "`dclip models download tiny-hub` when online" in message
    assert "`dclip models import tiny-hub PATH`" in message


def test_offline_with_a_cached_file_works(
    fake_hub: FakeHub, tiny: TinyWeights, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.publish("t/offline", FILE, tiny.data, commit=C1)
    spec = hub_spec("t/offline", revision=C1)
    path = ensure_weights(spec, progress=False)
    monkeypatch.setenv("DCLIP_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    requests = len(fake_hub.hub.log)

    assert ensure_weights(spec, progress=False) == path
    create_clip(spec)

    assert len(fake_hub.hub.log) == requests


def test_hf_hub_offline_skips_the_hub(
    fake_hub: FakeHub, cdn: LocalFileServer, tiny: TinyWeights, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = hub_spec(
        "t/hf-off", revision=C1, cdn_url=cdn.url("cdn/tiny.safetensors"), cdn_sha256=tiny.sha256
    )

    assert ensure_weights(spec, progress=False).name == "tiny-cdn.safetensors"
    assert fake_hub.resolve_requests("t/hf-off", FILE) == []


def test_the_recorded_revision_is_honoured(fake_hub: FakeHub, tiny: TinyWeights) -> None:
    fake_hub.publish("t/main", FILE, tiny.data, commit=C1)
    spec = hub_spec("t/main")  # no pinned revision: `main`, then what it resolved to
    path = ensure_weights(spec, progress=False)
    assert _stamp("tiny-hub.safetensors")["revision"] == C1
    fake_hub.publish("t/main", FILE, tiny.data[::-1], commit=C2)  # main moves on
    path.write_bytes(tiny.data[:-1] + b"\0")  # the cached file is damaged

    assert cached_weights_path(spec) is None
    with pytest.raises(WeightsMissingError, match="damaged"):
        ensure_weights(spec, download=False)
    again = ensure_weights(spec, progress=False)

    assert again.read_bytes() == tiny.data  # the recorded commit's file, not main's new one
    last = fake_hub.resolve_requests("t/main", FILE)[-1]
    assert f"/resolve/{C1}/" in last.path


def test_a_newer_pinned_revision_replaces_the_recorded_file(
    fake_hub: FakeHub, tiny: TinyWeights
) -> None:
    fake_hub.publish("t/bump", FILE, tiny.data, commit=C1)
    ensure_weights(hub_spec("t/bump", revision=C1), progress=False)
    newer = tiny.data  # same tensors, republished at a newer commit
    fake_hub.publish("t/bump", FILE, newer, commit=C2)
    spec = hub_spec("t/bump", revision=C2)

    assert cached_weights_path(spec) is None
    ensure_weights(spec, progress=False)

    assert _stamp("tiny-hub.safetensors")["revision"] == C2


def test_a_cancelling_callback_leaves_nothing(fake_hub: FakeHub, tiny: TinyWeights) -> None:
    fake_hub.publish("t/cancel", FILE, tiny.data, commit=C1)

    class StopError(Exception):
        pass

    def stop(done: int, total: int | None) -> None:
        raise StopError

    with pytest.raises(StopError):
        ensure_weights(hub_spec("t/cancel", revision=C1), progress=stop)

    assert _contents() == []


def test_import_of_a_hub_file_whose_hash_is_not_pinned(tiny: TinyWeights, tmp_path: Path) -> None:
    spec = hub_spec("t/import")

    path = import_weights(spec, tiny.path)

    assert path == _cache() / "tiny-hub.safetensors"
    assert cached_weights_path(spec) == path
    assert _stamp("tiny-hub.safetensors")["sha256"] == tiny.sha256
    torch.testing.assert_close(
        model_outputs(create_clip(spec))[0], model_outputs(source_model())[0], rtol=0, atol=1e-6
    )


def test_import_refuses_a_safetensors_file_of_another_model(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(3)}, str(other))
    actual = hashlib.sha256(other.read_bytes()).hexdigest()

    with pytest.raises(WeightsError, match=f"its sha256 is {actual}"):
        import_weights(hub_spec("t/import"), other)
    assert _contents() == []


def test_models_info_shows_both_sources_the_revision_and_the_hash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "info", "clip-vit-b-32"]) == 0
    out = capsys.readouterr().out

    assert "timm/vit_base_patch32_clip_224.openai" in out
    assert "ab5b8ef490e86faa07d3523926b842c765de1de5 (pinned" in out
    assert "OpenAI CDN: https://openaipublic.azureedge.net/" in out
    assert "sha256 40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af" in out
