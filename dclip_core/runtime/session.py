"""ONNX Runtime sessions with an honest choice of execution provider.

``onnxruntime-gpu`` lists ``CUDAExecutionProvider`` even on machines where CUDA cannot run (no GPU,
missing cuBLAS/cuDNN of the right major version), and then silently runs on the CPU after printing
a wall of errors. So ``"auto"`` does not trust the list: it first loads the CUDA provider library
itself (which fails fast and says which library is missing), then initialises a tiny session on
CUDA and checks that CUDA is really among the session's providers. The outcome and its reason are
kept (:func:`choose_provider`) so ``dclip models info`` and the app's status bar can show them.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from dclip_core.errors import BundleError, ExecutionProviderError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
PROVIDER_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")

# What ONNX Runtime raises for a model it cannot load (bad protobuf, invalid graph, unknown op...).
ORT_LOAD_ERRORS: tuple[type[BaseException], ...] = (
    ort_errors.Fail,
    ort_errors.InvalidArgument,
    ort_errors.InvalidGraph,
    ort_errors.InvalidProtobuf,
    ort_errors.NoSuchFile,
    ort_errors.NotImplemented,
    ort_errors.RuntimeException,
    ort_errors.EPFail,
)

GraphOptimization = Literal["all", "extended"]
_OPTIMIZATION_LEVELS = {
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
}

# ONNX Runtime's logger severities: 0 verbose ... 2 warning (its default), 3 error, 4 fatal.
_ORT_DEFAULT_SEVERITY = 2
_ORT_QUIET_SEVERITY = 4


@dataclass(frozen=True)
class ProviderChoice:
    """Which execution provider sessions use, and why.

    Attributes:
        requested: what the caller asked for (``"auto"``, ``"cpu"``, ``"cuda"``).
        provider: the ONNX Runtime provider used, e.g. ``"CPUExecutionProvider"``.
        reason: one line explaining the choice (why CUDA was not used, when it was not).
    """

    requested: str
    provider: str
    reason: str

    @property
    def providers(self) -> list[str]:
        """The provider list to give ONNX Runtime (CPU always last, for ops CUDA lacks)."""
        return [self.provider, CPU] if self.provider != CPU else [CPU]


@dataclass(frozen=True)
class CudaProbe:
    """Result of trying CUDA once in this process."""

    usable: bool
    reason: str


def available_providers() -> list[str]:
    """The providers this ONNX Runtime build lists (not all of them necessarily work)."""
    return list(ort.get_available_providers())


@functools.lru_cache(maxsize=1)
def probe_cuda() -> CudaProbe:
    """Find out once per process whether ONNX Runtime can really run on CUDA here."""
    if CUDA not in ort.get_available_providers():
        return CudaProbe(
            False, "this ONNX Runtime build has no CUDA provider (install onnxruntime-gpu)"
        )
    library = _cuda_provider_library()
    if library is not None:
        try:
            ctypes.CDLL(str(library))
        except OSError as exc:
            return CudaProbe(False, f"CUDA is listed but its libraries cannot be loaded ({exc})")
    try:
        session = _quiet_session(_probe_model_bytes(), [CUDA, CPU])
    except ORT_LOAD_ERRORS as exc:
        return CudaProbe(False, f"CUDA is listed but a session failed to start on it ({exc})")
    if CUDA not in session.get_providers():
        return CudaProbe(
            False, "CUDA is listed but a session could not initialise on it (no usable GPU?)"
        )
    return CudaProbe(True, "CUDA initialised")


def choose_provider(requested: str = "auto") -> ProviderChoice:
    """Decide where sessions run.

    Args:
        requested: ``"auto"`` (CUDA when it works, else CPU), ``"cpu"`` or ``"cuda"``.

    Raises:
        ExecutionProviderError: an unknown choice, or ``"cuda"`` when CUDA cannot be used.
    """
    choice = requested.lower()
    if choice not in PROVIDER_CHOICES:
        raise ExecutionProviderError(
            f"unknown execution provider {requested!r}; use one of {', '.join(PROVIDER_CHOICES)}"
        )
    if choice == "cpu":
        return ProviderChoice(requested, CPU, "CPU requested")
    probe = probe_cuda()
    if probe.usable:
        return ProviderChoice(requested, CUDA, probe.reason)
    if choice == "cuda":
        raise ExecutionProviderError(
            f"CUDA was requested but cannot be used: {probe.reason}; use --provider cpu or auto"
        )
    return ProviderChoice(requested, CPU, probe.reason)


def create_session(
    model_path: Path,
    choice: ProviderChoice,
    *,
    threads: int = 0,
    spinning: bool = True,
    optimization: GraphOptimization = "all",
    cache_dir: Path | None = None,
    model_sha256: str | None = None,
) -> ort.InferenceSession:
    """Open an ONNX model on the chosen provider.

    Args:
        model_path: the ``.onnx`` file.
        choice: from :func:`choose_provider`.
        threads: intra-op threads on the CPU; 0 lets ONNX Runtime use all physical cores.
        spinning: let idle intra-op threads busy-wait for the next operator (ONNX Runtime's
            default: lowest latency when the model has the cores to itself). False makes them
            sleep instead, so other threads of the process — the indexer's decoders — get the
            cores whenever the model is not computing.
        optimization: ONNX Runtime's graph optimisation level. ``"extended"`` leaves out the
            CPU layout transformations of ``"all"``, which crash ONNX Runtime 1.31 on
            fp16-weight models (segmentation fault while creating the session); fp16 variants
            must use it.
        cache_dir: keep ONNX Runtime's optimised model here and open it from there next time
            (:mod:`dclip_core.runtime.session_cache`; CPU sessions only). Needs
            ``model_sha256``.
        model_sha256: the verified sha256 of ``model_path`` (from the bundle manifest), which
            keys the cache without hashing the file again.

    Raises:
        BundleError: the file cannot be read or is not a valid ONNX model (names the file).
        ExecutionProviderError: CUDA was chosen but the session did not start on it.
    """
    if threads < 0:
        raise ExecutionProviderError(f"threads must be 0 (automatic) or more, not {threads}")

    def make_options() -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = _OPTIMIZATION_LEVELS[optimization]
        return options

    try:
        if cache_dir is not None and model_sha256 and choice.provider == CPU:
            from dclip_core.runtime.session_cache import open_cached_session

            session = open_cached_session(
                model_path,
                model_sha256,
                cache_dir,
                CPU,
                _OPTIMIZATION_LEVELS[optimization],
                make_options,
            )
        else:
            session = ort.InferenceSession(
                str(model_path), make_options(), providers=choice.providers
            )
    except ORT_LOAD_ERRORS as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleError(
            f"ONNX Runtime cannot load {model_path} ({first_line}); the file is corrupt or not an "
            "ONNX model, re-export the bundle"
        ) from exc
    if choice.provider not in session.get_providers():
        raise ExecutionProviderError(
            f"{model_path.name} did not start on {choice.provider} "
            f"(got {', '.join(session.get_providers())}); use --provider cpu"
        )
    return session


def input_is_dynamic(session: ort.InferenceSession, input_name: str, axis: int) -> bool:
    """Whether ``axis`` of the session's input ``input_name`` has a symbolic (free) size.

    Raises:
        KeyError: the model has no input of that name.
    """
    for item in session.get_inputs():
        if item.name == input_name:
            return not isinstance(item.shape[axis], int)
    raise KeyError(f"the model has no input {input_name!r}")


def optimization_for_variant(variant: str) -> GraphOptimization:
    """The graph optimisation level that is safe for a bundle variant (see `create_session`)."""
    return "extended" if variant == "fp16" else "all"


def _cuda_provider_library() -> Path | None:
    """Path of ONNX Runtime's CUDA provider library, where this build ships one."""
    capi = Path(ort.__file__).parent / "capi"
    name = (
        "onnxruntime_providers_cuda.dll"
        if sys.platform == "win32"
        else "libonnxruntime_providers_cuda.so"
    )
    library = capi / name
    return library if library.is_file() else None


def _quiet_session(model: bytes, providers: list[str]) -> ort.InferenceSession:
    """A session whose provider-loading failures are not printed to the user's terminal."""
    # A failing CUDA provider logs through ONNX Runtime's global logger, not the session's; quiet
    # it for the probe only, since the probe reports the failure itself.
    ort.set_default_logger_severity(_ORT_QUIET_SEVERITY)
    try:
        options = ort.SessionOptions()
        options.log_severity_level = _ORT_QUIET_SEVERITY
        return ort.InferenceSession(model, options, providers=providers)
    finally:
        ort.set_default_logger_severity(_ORT_DEFAULT_SEVERITY)


@functools.lru_cache(maxsize=1)
def _probe_model_bytes() -> bytes:
    """A one-node ONNX model (y = x + x), small enough to build in microseconds."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    serialized: bytes = model.SerializeToString()
    return serialized


def describe_providers(choice: ProviderChoice | None = None) -> dict[str, Any]:
    """What ``dclip models info`` shows: listed providers and what ``auto`` picks, with why."""
    picked = choice or choose_provider("auto")
    return {
        "available": available_providers(),
        "auto": picked.provider,
        "reason": picked.reason,
        "cpu_count": os.cpu_count(),
    }
