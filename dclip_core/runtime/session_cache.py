"""A cache of ONNX Runtime's optimised models, so a fresh process opens a session in a fraction
of the time (docs/adr/0009-fast-text-queries.md).

Opening a ViT-B/32 text tower from the bundle's ``.onnx`` costs ~1.5-2.5 s on a laptop CPU: ONNX
Runtime parses 250 MB of protobuf, copies every weight and runs its graph optimisers. On first use
the optimised graph is saved once, with its weights in a separate file that later sessions
memory-map; later processes load it with optimisations off (they are already applied).

An entry is keyed by everything the saved graph depends on: the source model's sha256 (from the
verified bundle manifest, so nothing is re-hashed here), the ONNX Runtime version, the execution
provider, the optimisation level and the CPU (``ORT_ENABLE_ALL`` inserts layout transformations
for the CPU it ran on; ONNX Runtime warns that such a model "should only be used in the same
environment"). Only the CPU provider is cached: a graph optimised for another provider is not
guaranteed to be usable, and CUDA sessions are not where start-up time is lost.

Every entry records the sha256 of its (small) graph file, the size and modification time of its
weights file, and the output of a probe input computed by the session that wrote it; every load
checks all three. An entry whose files are missing, truncated, rewritten, unloadable or give other
outputs is discarded and rebuilt from the bundle, with a warning. Like the bundle's verification
stamp, this does not catch a weights file changed in place with its size and mtime restored.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import platform
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from dclip_core.runtime.session import ORT_LOAD_ERRORS

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
MODEL_FILE = "model.onnx"
WEIGHTS_FILE = "weights.bin"
META_FILE = "entry.json"
# Initializers from this size go to the memory-mapped weights file; tiny ones stay in the graph.
_EXTERNAL_MIN_BYTES = 1024
# A cached graph runs the same kernels as the one that wrote it; anything beyond float noise from
# a different thread split means the files are not what was written.
_PROBE_TOLERANCE = 1e-4

OptionsFactory = Callable[[], ort.SessionOptions]


def cache_key(model_sha256: str, provider: str, optimization: ort.GraphOptimizationLevel) -> str:
    """24 hex chars naming the cache entry of one source model in this environment."""
    identity = {
        "format": CACHE_FORMAT,
        "model_sha256": model_sha256,
        "onnxruntime": ort.__version__,
        "provider": provider,
        "optimization": int(optimization),
        "cpu": _cpu_identity(),
    }
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]


def open_cached_session(
    model_path: Path,
    model_sha256: str,
    cache_dir: Path,
    provider: str,
    optimization: ort.GraphOptimizationLevel,
    make_options: OptionsFactory,
) -> ort.InferenceSession:
    """A session of ``model_path`` on ``provider``, from the cache when a valid entry exists.

    Args:
        model_path: the source ``.onnx`` file (already verified against ``model_sha256``).
        model_sha256: its digest, from the bundle manifest.
        cache_dir: the folder holding cache entries (created when needed).
        provider: the execution provider; only the CPU provider's sessions are valid here.
        optimization: the graph optimisation level the entry is built with.
        make_options: fresh session options (threads, logging) for each session created.

    Raises:
        The ONNX Runtime error of the source model when it cannot be loaded (the caller turns it
        into a ``BundleError``); cache problems are never raised, only logged and repaired.
    """
    entry = cache_dir / cache_key(model_sha256, provider, optimization)
    if entry.is_dir():
        session, problem = _load_entry(entry, provider, make_options)
        if session is not None:
            return session
        log.warning("rebuilding the cached optimised model %s: %s", entry, problem)
        _discard(entry)
    return _build_entry(model_path, entry, provider, optimization, make_options)


def _load_entry(
    entry: Path, provider: str, make_options: OptionsFactory
) -> tuple[ort.InferenceSession | None, str]:
    """The entry's session, or None and why the entry cannot be trusted."""
    try:
        meta = json.loads((entry / META_FILE).read_text(encoding="utf-8"))
        recorded = {str(k): dict(v) for k, v in meta["files"].items()}
        probe = np.asarray(meta["probe"], dtype=np.float32)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"its {META_FILE} is unreadable ({exc})"
    if meta.get("format") != CACHE_FORMAT:
        return None, f"it has cache format {meta.get('format')!r}, not {CACHE_FORMAT}"
    if MODEL_FILE not in recorded:
        return None, f"its {META_FILE} lists no {MODEL_FILE}"
    for name, stamp in recorded.items():
        try:
            current = _file_stamp(entry / name, with_digest="sha256" in stamp)
        except OSError as exc:
            return None, f"{name} cannot be read ({exc})"
        if current != stamp:
            return None, f"{name} changed since it was written ({stamp} -> {current})"
    options = make_options()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(entry / MODEL_FILE), options, providers=[provider])
        output = _run_probe(session)
    except ORT_LOAD_ERRORS as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"ONNX Runtime cannot load it ({first_line})"
    if output.shape != probe.shape or not np.allclose(output, probe, atol=_PROBE_TOLERANCE):
        return None, "its output on the probe input differs from what was recorded"
    return session, ""


def _build_entry(
    model_path: Path,
    entry: Path,
    provider: str,
    optimization: ort.GraphOptimizationLevel,
    make_options: OptionsFactory,
) -> ort.InferenceSession:
    """Optimise ``model_path`` into a new entry and return a session of it.

    A first use costs one save and one reload more than an uncached open. Errors of the source
    model come from here unchanged; saving is best effort: a cache that cannot be written only
    means the next process optimises again.
    """
    staging = entry.parent / f".{entry.name}.partial-{uuid.uuid4().hex[:8]}"
    options = make_options()
    options.graph_optimization_level = optimization
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        log.warning("cannot cache the optimised model in %s: %s", entry.parent, exc)
        return ort.InferenceSession(str(model_path), options, providers=[provider])
    try:
        options.optimized_model_filepath = str(staging / MODEL_FILE)
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_file_name", WEIGHTS_FILE
        )
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes",
            str(_EXTERNAL_MIN_BYTES),
        )
        with _hardware_warning_silenced():
            session = ort.InferenceSession(str(model_path), options, providers=[provider])
        try:
            _write_meta(session, staging)
        except (OSError, ValueError) as exc:
            log.warning("could not cache the optimised model of %s: %s", model_path, exc)
            return session
        # The cached copy replaces this session: its weights are memory-mapped, not copied, so
        # releasing this one first keeps the peak memory of a first search at one model.
        del session
        cached, problem = _load_entry(staging, provider, make_options)
        if cached is None:
            log.warning(
                "not caching the optimised model of %s: the saved copy %s", model_path, problem
            )
            return ort.InferenceSession(str(model_path), make_options(), providers=[provider])
        try:
            staging.rename(entry)
        except OSError as exc:
            if not (entry / META_FILE).is_file():
                log.warning("could not cache the optimised model in %s: %s", entry, exc)
            # Else another process cached the same model first; its entry is as good as ours.
        return cached
    finally:
        # Best effort: what is left is a hidden folder the next build of this entry ignores.
        shutil.rmtree(staging, ignore_errors=True)


def _write_meta(session: ort.InferenceSession, staging: Path) -> None:
    """Record the saved files' stamps and the session's output on the probe input."""
    if not (staging / MODEL_FILE).is_file():
        raise ValueError("ONNX Runtime did not save the optimised model")
    files = {MODEL_FILE: _file_stamp(staging / MODEL_FILE, with_digest=True)}
    if (staging / WEIGHTS_FILE).is_file():
        files[WEIGHTS_FILE] = _file_stamp(staging / WEIGHTS_FILE, with_digest=False)
    meta = {"format": CACHE_FORMAT, "files": files, "probe": _run_probe(session).tolist()}
    (staging / META_FILE).write_text(json.dumps(meta) + "\n", encoding="utf-8")


def _file_stamp(path: Path, *, with_digest: bool) -> dict[str, Any]:
    """Size and modification time of a file, and for the small graph file its sha256.

    The weights file is hundreds of megabytes; hashing it on every open would cost what the
    cache saves, so it is trusted by size and mtime like a verified bundle (ADR 0009).
    """
    stat = path.stat()
    stamp: dict[str, Any] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if with_digest:
        stamp["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return stamp


def _discard(entry: Path) -> None:
    """Move a bad entry out of the way, then delete it (sessions may still map its files)."""
    aside = entry.parent / f".{entry.name}.stale-{uuid.uuid4().hex[:8]}"
    try:
        entry.rename(aside)
    except FileNotFoundError:
        return  # another process discarded it first
    shutil.rmtree(aside, ignore_errors=True)


def _run_probe(session: ort.InferenceSession) -> np.ndarray:
    """The first output for a fixed small input (zeros, symbolic sizes set to 1)."""
    feeds: dict[str, Any] = {}
    for item in session.get_inputs():
        shape = [dim if isinstance(dim, int) and dim > 0 else 1 for dim in item.shape]
        feeds[item.name] = np.zeros(shape, dtype=_NUMPY_TYPES.get(item.type, np.float32))
    first = session.get_outputs()[0].name
    (output,) = session.run([first], feeds)
    return np.asarray(output, dtype=np.float32)


@contextlib.contextmanager
def _hardware_warning_silenced() -> Iterator[None]:
    """Hide ONNX Runtime's "only use in the same environment" warning: the key ensures it."""
    ort.set_default_logger_severity(3)
    try:
        yield
    finally:
        ort.set_default_logger_severity(2)


@functools.lru_cache(maxsize=1)
def _cpu_identity() -> str:
    """The CPU model and feature flags (what ONNX Runtime's CPU kernels were chosen for)."""
    parts = [platform.machine()]
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key = line.split(":", 1)[0].strip()
                if key in ("model name", "flags", "Features", "CPU part"):
                    parts.append(line.strip())
                if line.strip() == "":
                    break  # the first processor describes them all on the machines we run on
    except OSError:
        # Not Linux: the processor name is what the platform tells. Only here, because on Linux
        # platform.processor() runs `uname -p` in a subprocess (~20 ms of every cold search).
        parts.append(platform.processor())
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]


_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}
