"""The optimised-model cache: reused when valid, rebuilt when any part of it is damaged."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from dclip_core.runtime.session import CPU, choose_provider, create_session
from dclip_core.runtime.session_cache import (
    META_FILE,
    MODEL_FILE,
    WEIGHTS_FILE,
    cache_key,
)

IDS = np.array([[49406, 320, 1929, 49407], [49406, 49407, 0, 0]], dtype=np.int64)
ALL = ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def _open(bundle: Path, cache: Path) -> ort.InferenceSession:
    digest = json.loads((bundle / "bundle.json").read_text())["files"]["text.onnx"]
    return create_session(
        bundle / "text.onnx", choose_provider("cpu"), cache_dir=cache, model_sha256=digest
    )


def _embed(session: ort.InferenceSession) -> np.ndarray:
    return np.asarray(session.run(["embeddings"], {"input_ids": IDS})[0])


def _entry(cache: Path) -> Path:
    (entry,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    return entry


@pytest.fixture
def reference(tiny_bundle: Path) -> np.ndarray:
    return _embed(create_session(tiny_bundle / "text.onnx", choose_provider("cpu")))


def test_second_open_runs_the_cached_optimised_model(
    tiny_bundle: Path, tmp_path: Path, reference: np.ndarray
) -> None:
    cache = tmp_path / "cache"
    first = _open(tiny_bundle, cache)
    entry = _entry(cache)
    assert {p.name for p in entry.iterdir()} == {MODEL_FILE, WEIGHTS_FILE, META_FILE}
    # The weights live beside the graph, to be memory-mapped rather than parsed and copied.
    assert (entry / WEIGHTS_FILE).stat().st_size > 10 * (entry / MODEL_FILE).stat().st_size
    built_at = (entry / META_FILE).stat().st_mtime_ns
    second = _open(tiny_bundle, cache)
    assert Path(second._model_path) == entry / MODEL_FILE
    assert (entry / META_FILE).stat().st_mtime_ns == built_at  # reused, not rebuilt
    np.testing.assert_allclose(_embed(first), reference, atol=1e-5)
    np.testing.assert_allclose(_embed(second), reference, atol=1e-5)


def _flip_weights(entry: Path) -> None:
    weights = entry / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 4096] = bytes(4096)  # same size, other numbers
    weights.write_bytes(bytes(data))


def _truncate_weights(entry: Path) -> None:
    weights = entry / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:1000])


def _garble_graph(entry: Path) -> None:
    (entry / MODEL_FILE).write_bytes(b"\x08\x07 not a protobuf graph" * 3)


def _garble_meta(entry: Path) -> None:
    (entry / META_FILE).write_text("{not json")


def _remove_weights(entry: Path) -> None:
    (entry / WEIGHTS_FILE).unlink()


def _alter_recorded_output(entry: Path) -> None:
    # Files intact but their output is not what the writer computed: the probe catches it.
    meta = json.loads((entry / META_FILE).read_text())
    meta["probe"] = [[value + 0.01 for value in row] for row in meta["probe"]]
    (entry / META_FILE).write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "damage",
    [
        _flip_weights,
        _truncate_weights,
        _garble_graph,
        _garble_meta,
        _remove_weights,
        _alter_recorded_output,
    ],
)
def test_a_damaged_entry_is_detected_and_rebuilt(
    tiny_bundle: Path,
    tmp_path: Path,
    reference: np.ndarray,
    damage: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = tmp_path / "cache"
    _open(tiny_bundle, cache)
    assert callable(damage)
    damage(_entry(cache))
    with caplog.at_level(logging.WARNING, logger="dclip_core.runtime.session_cache"):
        session = _open(tiny_bundle, cache)
    assert "rebuilding the cached optimised model" in caplog.text
    np.testing.assert_allclose(_embed(session), reference, atol=1e-5)
    # The rebuilt entry is whole again: the next open uses it without complaint.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dclip_core.runtime.session_cache"):
        again = _open(tiny_bundle, cache)
    assert caplog.text == ""
    assert Path(again._model_path) == _entry(cache) / MODEL_FILE
    np.testing.assert_allclose(_embed(again), reference, atol=1e-5)
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no leftovers


def test_an_unwritable_cache_still_gives_a_working_session(
    tiny_bundle: Path, tmp_path: Path, reference: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("the cache folder cannot be created under a file")
    with caplog.at_level(logging.WARNING, logger="dclip_core.runtime.session_cache"):
        session = _open(tiny_bundle, blocked / "cache")
    assert "cannot cache the optimised model" in caplog.text
    np.testing.assert_allclose(_embed(session), reference, atol=1e-5)


def test_entries_are_keyed_by_model_runtime_provider_and_level() -> None:
    base = cache_key("ab" * 32, CPU, ALL)
    assert base == cache_key("ab" * 32, CPU, ALL)
    others = {
        cache_key("cd" * 32, CPU, ALL),
        cache_key("ab" * 32, "CUDAExecutionProvider", ALL),
        cache_key("ab" * 32, CPU, ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED),
    }
    assert base not in others
    assert len(others) == 3


def test_sessions_open_without_a_cache_when_not_asked(tiny_bundle: Path, tmp_path: Path) -> None:
    session = create_session(tiny_bundle / "text.onnx", choose_provider("cpu"))
    assert Path(session._model_path) == tiny_bundle / "text.onnx"
