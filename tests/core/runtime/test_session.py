"""Execution provider choice and ONNX Runtime session creation."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from dclip_core.errors import BundleError, ExecutionProviderError
from dclip_core.runtime.session import (
    CPU,
    CUDA,
    choose_provider,
    create_session,
    describe_providers,
    probe_cuda,
)


def test_cpu_choice_runs_on_the_cpu(tiny_bundle: Path) -> None:
    choice = choose_provider("cpu")
    assert choice.provider == CPU
    assert choice.providers == [CPU]
    session = create_session(tiny_bundle / "image.onnx", choice, threads=1)
    assert session.get_providers() == [CPU]
    out = session.run(["embeddings"], {"pixels": np.zeros((3, 3, 64, 64), np.float32)})[0]
    assert out.shape == (3, 32)


def test_auto_uses_cuda_only_when_a_session_really_starts_on_it() -> None:
    choice = choose_provider("auto")
    probe = probe_cuda()
    assert choice.reason == probe.reason
    if probe.usable:
        assert choice.provider == CUDA
        assert choice.providers == [CUDA, CPU]
    else:
        assert choice.provider == CPU
        # The user is told why CUDA was not used, in words.
        assert "CUDA" in choice.reason
    info = describe_providers(choice)
    assert info["auto"] == choice.provider
    assert info["available"] == ort.get_available_providers()


def test_cuda_on_request_is_used_or_refused_with_the_reason() -> None:
    probe = probe_cuda()
    if probe.usable:
        assert choose_provider("cuda").provider == CUDA
    else:
        with pytest.raises(ExecutionProviderError, match="CUDA was requested but cannot be used"):
            choose_provider("cuda")


def test_unknown_provider_is_refused() -> None:
    with pytest.raises(ExecutionProviderError, match="use one of auto, cpu, cuda"):
        choose_provider("tpu")


def test_intra_op_threads_are_applied(tiny_bundle: Path) -> None:
    session = create_session(tiny_bundle / "text.onnx", choose_provider("cpu"), threads=1)
    assert session.get_session_options().intra_op_num_threads == 1
    with pytest.raises(ExecutionProviderError, match="threads"):
        create_session(tiny_bundle / "text.onnx", choose_provider("cpu"), threads=-1)


def test_corrupt_onnx_file_is_a_bundle_error_naming_it(tiny_bundle: Path, tmp_path: Path) -> None:
    broken = tmp_path / "image.onnx"
    shutil.copyfile(tiny_bundle / "image.onnx", broken)
    broken.write_bytes(broken.read_bytes()[:5000])
    with pytest.raises(BundleError, match=r"cannot load .*image\.onnx.*re-export"):
        create_session(broken, choose_provider("cpu"))
    garbage = tmp_path / "text.onnx"
    garbage.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(BundleError, match=r"text\.onnx"):
        create_session(garbage, choose_provider("cpu"))
