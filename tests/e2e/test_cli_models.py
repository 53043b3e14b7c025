"""``dclip models list / download / import`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dclip_core.cli import main
from dclip_core.config.paths import get_paths
from dclip_core.models import registry
from dclip_core.models.registry import ModelSpec, get_model_spec
from tests.helpers.local_http import LocalFileServer, Route, closed_port_url, serve_files
from tests.helpers.tiny_weights import TinyWeights, tiny_spec_with_weights, write_tiny_weights

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyWeights:
    return write_tiny_weights(tmp_path_factory.mktemp("tiny-weights"))


@pytest.fixture(scope="module")
def server(tiny: TinyWeights) -> Iterator[LocalFileServer]:
    with serve_files() as files:
        files.add("w/tiny.safetensors", Route(tiny.data))
        yield files


def _register(monkeypatch: pytest.MonkeyPatch, spec: ModelSpec) -> ModelSpec:
    # Through the registry dict so that monkeypatch unregisters it after the test.
    monkeypatch.setitem(registry._REGISTRY, spec.name, spec)
    return spec


@pytest.fixture
def served(
    monkeypatch: pytest.MonkeyPatch, server: LocalFileServer, tiny: TinyWeights
) -> ModelSpec:
    spec = tiny_spec_with_weights(
        "tiny-served", urls=(server.url("w/tiny.safetensors"),), sha256=tiny.sha256
    )
    return _register(monkeypatch, spec)


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch, tiny: TinyWeights) -> ModelSpec:
    spec = tiny_spec_with_weights(
        "tiny-unreachable", urls=(closed_port_url("tiny.safetensors"),), sha256=tiny.sha256
    )
    return _register(monkeypatch, spec)


def _error_line(stderr: str) -> str:
    """The one error line; fails if there is more (a traceback, say)."""
    lines = [line for line in stderr.splitlines() if not line.startswith("dclip: note:")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("dclip: error: ")
    return lines[0]


def _list_json(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["models"]
    return {row["name"]: row for row in rows}


def test_list_shows_which_models_are_ready(
    capsys: pytest.CaptureFixture[str], served: ModelSpec
) -> None:
    assert main(["models", "list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}

    assert "not downloaded" in lines["clip-vit-b-32"]
    assert "not downloaded" in lines["tiny-served"]
    assert "ready (random)" in lines["test-tiny"]
    rows = _list_json(capsys)
    assert rows["tiny-served"]["available"] is False
    assert rows["test-tiny"]["available"] is True


def test_download_shows_progress_then_reports_already_downloaded(
    capsys: pytest.CaptureFixture[str], served: ModelSpec, server: LocalFileServer
) -> None:
    before = server.requests_for("w/tiny.safetensors")

    assert main(["models", "download", "tiny-served"]) == 0
    first = capsys.readouterr()
    assert main(["models", "download", "tiny-served"]) == 0
    second = capsys.readouterr()

    cached = get_paths().weights_dir / "tiny.safetensors"
    assert f"downloaded and verified: {cached}" in first.out
    assert "tiny.safetensors" in first.err  # the progress bar
    assert "100%" in first.err
    assert f"already downloaded and verified: {cached}" in second.out
    assert server.requests_for("w/tiny.safetensors") == before + 1
    rows = _list_json(capsys)
    assert rows["tiny-served"]["available"] is True
    assert rows["tiny-served"]["weights_path"] == str(cached)


def test_download_quiet_has_no_progress_bar(
    capsys: pytest.CaptureFixture[str], served: ModelSpec
) -> None:
    assert main(["models", "download", "tiny-served", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_download_of_a_random_init_model_warns_and_does_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "download", "test-tiny"]) == 0
    captured = capsys.readouterr()

    assert "nothing to download" in captured.out
    assert "'test-tiny' has random weights; its results are meaningless" in captured.err


def test_download_without_network_explains_both_ways(
    capsys: pytest.CaptureFixture[str], unreachable: ModelSpec
) -> None:
    assert main(["models", "download", "tiny-unreachable"]) == 1
    captured = capsys.readouterr()

    line = _error_line(captured.err)
    assert "tiny.safetensors" in line
    assert "`dclip models download tiny-unreachable` when online" in line
    assert "`dclip models import tiny-unreachable PATH`" in line
    assert captured.out == ""


def test_import_then_list_shows_ready(
    capsys: pytest.CaptureFixture[str], unreachable: ModelSpec, tiny: TinyWeights
) -> None:
    assert main(["models", "import", "tiny-unreachable", str(tiny.path)]) == 0
    out = capsys.readouterr().out

    cached = get_paths().weights_dir / "tiny.safetensors"
    assert f"imported {tiny.path} (sha256 verified) into {cached}" in out
    assert cached.read_bytes() == tiny.data
    assert _list_json(capsys)["tiny-unreachable"]["available"] is True
    # Downloading now needs no network: the imported file is the verified one.
    assert main(["models", "download", "tiny-unreachable"]) == 0
    assert "already downloaded and verified" in capsys.readouterr().out


def test_import_of_a_wrong_file_is_refused(
    capsys: pytest.CaptureFixture[str], unreachable: ModelSpec, tiny: TinyWeights, tmp_path: Path
) -> None:
    wrong = tmp_path / "ViT-B-32.pt"
    wrong.write_bytes(b"not the weights")

    assert main(["models", "import", "tiny-unreachable", str(wrong)]) == 1

    line = _error_line(capsys.readouterr().err)
    assert str(wrong) in line
    assert f"expected {tiny.sha256}" in line
    assert _list_json(capsys)["tiny-unreachable"]["available"] is False


def test_unknown_model_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "download", "clip-vit-b32"]) == 1
    assert "did you mean clip-vit-b-32" in _error_line(capsys.readouterr().err)


def _run_dclip(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dclip_core", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("env_name", "cause"),
    [("DCLIP_OFFLINE", "DCLIP_OFFLINE=1"), ("DCLIP_WEIGHTS_MIRROR", "refused")],
)
def test_offline_download_in_a_real_process(env_name: str, cause: str) -> None:
    # The mirror points at a closed loopback port: as when the network is down.
    value = "1" if env_name == "DCLIP_OFFLINE" else closed_port_url("mirror").rsplit("/", 1)[0]
    spec = get_model_spec("clip-vit-b-32")
    assert spec.weights is not None

    result = _run_dclip("models", "download", "clip-vit-b-32", **{env_name: value})

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    line = _error_line(result.stderr)
    assert cause in line
    assert spec.weights.filename in line
    assert "`dclip models download clip-vit-b-32` when online" in line
    assert f"download {spec.weights.urls[0]} on another machine" in line
    assert "`dclip models import clip-vit-b-32 PATH`" in line
    assert result.stdout == ""
