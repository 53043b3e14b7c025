"""Pretrained weights: the local cache, verified downloads, user-imported files, and loading.

The cache is ``get_paths().weights_dir``: one file per spec, named ``spec.weights.filename``, next
to a small stamp ``.<filename>.verified`` (sha256, size, mtime) written once the file's hash has
been checked. :func:`cached_weights_path` therefore costs a ``stat`` and still never returns a file
that was not verified or that changed afterwards. Files only enter the cache complete and verified
(download or import, both atomic), so a partial file is never mistaken for weights.

Torch is imported only inside :func:`load_state_dict`, so ``dclip models list/download/import``
start without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dclip_core.config.paths import atomic_write_text, get_paths
from dclip_core.errors import (
    DownloadCancelledError,
    DownloadError,
    NetworkUnavailableError,
    WeightsError,
    WeightsMissingError,
)
from dclip_core.models.download import ProgressCallback, download_file, sha256_file
from dclip_core.models.registry import ModelSpec, WeightsFormat, WeightsSource

if TYPE_CHECKING:
    import torch

# OpenAI's TorchScript archives store these model hyper-parameters next to the weights; they are
# not parameters of open_clip's CLIP (which uses the same names as OpenAI for everything else).
OPENAI_NON_PARAMETER_KEYS = ("input_resolution", "context_length", "vocab_size")

_COPY_CHUNK_BYTES = 1 << 20


def weights_file_path(spec: ModelSpec) -> Path:
    """Where the spec's weights live in the cache (whether or not they are there)."""
    return get_paths().weights_dir / _weights_source(spec).filename


def cached_weights_path(spec: ModelSpec) -> Path | None:
    """The verified weights file of ``spec`` in the cache, or None when it is not there yet.

    Cheap: it compares the file with the stamp written when its hash was checked, and does not
    hash it again. Use :func:`verify_cached_weights` to re-hash.
    """
    if spec.weights is None:
        return None
    path = weights_file_path(spec)
    return path if _stamp_matches(path, spec.weights.sha256) else None


def verify_cached_weights(spec: ModelSpec) -> Path | None:
    """Hash the cached weights file in full; return it when it is the pinned file, else None.

    A match (re)writes the stamp, so a file the user copied into the cache by hand is accepted
    after one check.
    """
    source = _weights_source(spec)
    path = weights_file_path(spec)
    if not path.is_file():
        return None
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise WeightsError(f"cannot read cached weights {path}: {exc.strerror or exc}") from exc
    if actual != source.sha256:
        # Same size and mtime but other bytes (disk damage): the stamp must not vouch for it.
        _stamp_path(path).unlink(missing_ok=True)
        return None
    _write_stamp(path, source.sha256)
    return path


def ensure_weights(
    spec: ModelSpec,
    *,
    download: bool = True,
    progress: bool | ProgressCallback = True,
    cancel: threading.Event | None = None,
) -> Path:
    """Return the spec's verified weights file, downloading it into the cache when missing.

    Args:
        spec: a model with pretrained weights.
        download: False never touches the network (a missing file is an error).
        progress: as for :func:`~dclip_core.models.download.download_file`.
        cancel: set it to stop a download in progress.

    Raises:
        WeightsMissingError: not cached and not downloadable (offline, ``DCLIP_OFFLINE=1``, no
            server reachable, or ``download=False``); the message names the file and both ways
            to provide it.
        DownloadError: a server answered but did not deliver the pinned file (HTTP error,
            truncated transfer, hash mismatch).
        DownloadCancelledError: ``cancel`` was set.
    """
    source = _weights_source(spec)
    cached = cached_weights_path(spec)
    if cached is not None:
        return cached
    dest = weights_file_path(spec)
    damaged = False
    if dest.is_file():
        # Present but unstamped: copied in by hand, or the stamp was lost. One full check decides.
        verified = verify_cached_weights(spec)
        if verified is not None:
            return verified
        damaged = True  # not the pinned file: a verified download replaces it below
    if not download:
        reason = "the file there is damaged" if damaged else "downloading is turned off"
        raise WeightsMissingError(missing_weights_message(spec, reason))
    try:
        path = download_file(
            source.urls, dest, sha256=source.sha256, progress=progress, cancel=cancel
        )
    except NetworkUnavailableError as exc:
        reason = f"the file there is damaged and {exc}" if damaged else str(exc)
        raise WeightsMissingError(missing_weights_message(spec, reason)) from exc
    except DownloadCancelledError:
        raise
    except DownloadError as exc:
        raise DownloadError(
            f"{exc}; you can also download {source.urls[0]} yourself and run "
            f"`dclip models import {spec.name} PATH`"
        ) from exc
    _write_stamp(path, source.sha256)  # download_file only ever puts a verified file in place
    return path


def missing_weights_message(spec: ModelSpec, reason: str) -> str:
    """One line naming the missing file, why it is missing, and both ways to provide it."""
    source = _weights_source(spec)
    return (
        f"weights file {source.filename} of model {spec.name!r} is not in "
        f"{get_paths().weights_dir} ({reason}); to provide it, either run "
        f"`dclip models download {spec.name}` when online, or download {source.urls[0]} on "
        f"another machine and run `dclip models import {spec.name} PATH`"
    )


def import_weights(spec: ModelSpec, path: Path) -> Path:
    """Copy a weights file the user brings into the cache, after checking it is the pinned one.

    The file is hashed while it is copied to a temporary file beside the cache entry, which then
    replaces the entry in one rename: an interrupted import leaves the cache as it was.

    Returns:
        The path of the weights in the cache.

    Raises:
        WeightsError: the model has no weights to import, the file is missing or unreadable, or
            its sha256 differs from the pinned one (the message gives both hashes).
    """
    source = _weights_source(spec)
    src = Path(path).expanduser()
    if not src.is_file():
        raise WeightsError(f"cannot import {src}: no such file")
    dest = weights_file_path(spec)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".import", dir=dest.parent)
    except OSError as exc:
        raise WeightsError(
            f"cannot import {src}: cannot write to {dest.parent} ({exc.strerror or exc})"
        ) from exc
    tmp = Path(tmp_name)
    try:
        hasher = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with open(src, "rb") as f:
                    while chunk := f.read(_COPY_CHUNK_BYTES):
                        hasher.update(chunk)
                        out.write(chunk)
            except OSError as exc:  # reading the source or writing the copy (disk full)
                raise WeightsError(f"cannot import {src}: {exc.strerror or exc}") from exc
            actual = hasher.hexdigest()
            if actual != source.sha256:
                raise WeightsError(
                    f"refusing to import {src} as {source.filename} of model {spec.name!r}: its "
                    f"sha256 is {actual}, expected {source.sha256}; get the file from "
                    f"{source.urls[0]}"
                )
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WeightsError(f"cannot import {src} into {dest}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_stamp(dest, source.sha256)
    return dest


def detect_weights_format(path: Path) -> WeightsFormat:
    """Tell a weights file's format from its content (not its name).

    safetensors files start with the little-endian length of a JSON header; TorchScript archives
    and ``torch.save`` files are both zip files, told apart by the ``code/`` folder only
    TorchScript writes; old ``torch.save`` files are bare pickles.

    Raises:
        WeightsError: unreadable, or none of the three formats.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(9)
        size = path.stat().st_size
        if head[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
            is_script = any("/code/" in n or n.endswith("constants.pkl") for n in names)
            return "openai-jit" if is_script else "state-dict"
    except (OSError, zipfile.BadZipFile) as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc}") from exc
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size:
        return "safetensors"
    if head[:1] == b"\x80":  # pickle protocol marker of torch.save's legacy format
        return "state-dict"
    raise WeightsError(
        f"{path} is not a weights file (expected safetensors, a PyTorch state dict or an "
        "OpenAI TorchScript archive)"
    )


def load_state_dict(path: Path, spec: ModelSpec) -> dict[str, torch.Tensor]:
    """Read a weights file into a float32 CPU state dict with open_clip's parameter names.

    The format is detected from the file (see :func:`detect_weights_format`), so a fine-tuned
    checkpoint can be loaded into a spec whose pinned weights use another format:

    - ``openai-jit``: OpenAI's TorchScript archive, loaded on the CPU; its state dict already has
      open_clip's names, minus :data:`OPENAI_NON_PARAMETER_KEYS`. An archive can carry code, so
      it is loaded only when its sha256 is the one ``spec`` pins.
    - ``safetensors``: read as is.
    - ``state-dict``: ``torch.load(weights_only=True)`` — nothing is unpickled but tensors and
      plain containers; a top-level ``"state_dict"`` entry and DDP's ``module.`` prefix are undone.

    Raises:
        WeightsError: unreadable, not a state dict, or an unpinned TorchScript archive; the
            message names the file.
    """
    import torch
    from safetensors import SafetensorError

    fmt = detect_weights_format(path)
    try:
        if fmt == "safetensors":
            from safetensors.torch import load_file

            raw: Any = load_file(str(path), device="cpu")
        elif fmt == "openai-jit":
            _require_pinned_archive(path, spec)
            with warnings.catch_warnings():
                # OpenAI publishes only TorchScript; torch's advice to move to torch.export is
                # for the authors of such files, not for us reading one.
                warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", FutureWarning)
                archive = torch.jit.load(str(path), map_location="cpu")
            raw = dict(archive.state_dict())
            for key in OPENAI_NON_PARAMETER_KEYS:
                raw.pop(key, None)
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, ValueError, pickle.UnpicklingError, SafetensorError) as exc:
        raise WeightsError(
            f"cannot read {path} as {fmt} weights for model {spec.name!r}: "
            f"{_first_line(exc)}; the file is damaged or not a weights file: download or import "
            "it again"
        ) from exc
    return _as_float32_state_dict(raw, path)


def _require_pinned_archive(path: Path, spec: ModelSpec) -> None:
    """TorchScript archives carry code and pickles: load only the file whose sha256 is pinned."""
    pinned = spec.weights.sha256 if spec.weights is not None else None
    if pinned is not None and (_stamp_matches(path, pinned) or sha256_file(path) == pinned):
        return
    raise WeightsError(
        f"refusing to load TorchScript archive {path} for model {spec.name!r}: DCLIP loads "
        "TorchScript only from a model's pinned weights file (it carries code); save the weights "
        "as safetensors or a PyTorch state dict instead"
    )


def _as_float32_state_dict(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    import torch

    if isinstance(raw, Mapping) and isinstance(raw.get("state_dict"), Mapping):
        raw = raw["state_dict"]  # training checkpoints wrap the weights with optimizer state etc.
    if not isinstance(raw, Mapping):
        raise WeightsError(f"{path} holds a {type(raw).__name__}, not a state dict of tensors")
    state_dict: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor):
            raise WeightsError(
                f"{path} is not a state dict of tensors: entry {key!r} is a {type(value).__name__}"
            )
        name = str(key).removeprefix("module.")  # saved from a DistributedDataParallel wrapper
        # OpenAI ships fp16 weights; the models here are float32 on the CPU.
        state_dict[name] = value.float() if value.is_floating_point() else value
    return state_dict


def _weights_source(spec: ModelSpec) -> WeightsSource:
    if spec.weights is None:
        raise WeightsError(
            f"model {spec.name!r} has no weights file: it is randomly initialised from a seed"
        )
    return spec.weights


def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified")


def _write_stamp(path: Path, sha256: str) -> None:
    try:
        st = path.stat()
        stamp = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        atomic_write_text(_stamp_path(path), json.dumps(stamp))
    except OSError as exc:
        raise WeightsError(
            f"cannot record that {path} was verified ({exc.strerror or exc}); check the "
            "permissions of that folder"
        ) from exc


def _stamp_matches(path: Path, sha256: str) -> bool:
    try:
        st = path.stat()
        stamp = json.loads(_stamp_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(stamp, dict)
        and stamp.get("sha256") == sha256
        and stamp.get("size") == st.st_size
        and stamp.get("mtime_ns") == st.st_mtime_ns
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
