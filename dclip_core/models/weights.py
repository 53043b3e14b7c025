"""Pretrained weights: the local cache, verified downloads, user-imported files, and loading.

A model's weights can come from several files (``ModelSpec.weights_sources``): for OpenAI's CLIP,
a safetensors file on the Hugging Face Hub first, OpenAI's TorchScript archive second. The cache is
``get_paths().weights_dir``: one file per source, named ``source.filename``, next to a small stamp
``.<filename>.verified`` (sha256, size, mtime; for a Hub file also the repository and the commit it
came from) written once the file's hash was checked. So:

1. :func:`cached_weights_path` costs a ``stat`` per source and still never returns a file that was
   not verified, that changed afterwards, or that came from another revision than the pinned one.
2. :func:`ensure_weights` downloads the first source that delivers (Hub through huggingface_hub,
   the others through :func:`~dclip_core.models.download.download_file`).
3. Where the Hub file's sha256 is not pinned, the stamp is the pin: the first verified download
   records the commit and sha256, later checks compare against them, and later downloads ask for
   that commit. A damaged file loses the stamp's size and mtime, never that record.

Files only enter the cache complete and verified (download or import, both atomic), so a partial
file is never mistaken for weights. This module is torch-free (the app downloads and imports
weights in its own process); reading a file into tensors is :mod:`dclip_core.models.state_dict`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import zipfile
from pathlib import Path

from dclip_core.config.paths import get_paths
from dclip_core.errors import (
    DownloadCancelledError,
    DownloadError,
    NetworkUnavailableError,
    WeightsError,
    WeightsMissingError,
)
from dclip_core.models.download import (
    MIRROR_ENV,
    OFFLINE_ENV,
    ProgressCallback,
    download_file,
    is_offline,
    sha256_file,
)
from dclip_core.models.registry import (
    ModelSpec,
    WeightsFormat,
    WeightsSource,
    parameters_signature,
)
from dclip_core.models.weights_stamp import (
    expected_sha256,
    invalidate_stamp,
    read_stamp,
    stamp_matches,
    write_stamp,
)

# A Hub transfer that arrives garbled (cut short beyond what resume repairs, wrong bytes) is
# asked for once more before the next source is tried.
HUB_ATTEMPTS = 2

_COPY_CHUNK_BYTES = 1 << 20


def weights_file_path(spec: ModelSpec, source: WeightsSource | None = None) -> Path:
    """Where a source's file lives in the cache (default: the spec's first source)."""
    return get_paths().weights_dir / (source or _weights_source(spec)).filename


def cached_weights_path(spec: ModelSpec) -> Path | None:
    """The verified weights file of ``spec`` in the cache, or None when none is there yet.

    Cheap: it compares each source's file with the stamp written when its hash was checked, and
    does not hash it again. Use :func:`verify_cached_weights` to re-hash.
    """
    for source in spec.weights_sources:
        path = weights_file_path(spec, source)
        if stamp_matches(path, source):
            return path
    return None


def verify_cached_weights(spec: ModelSpec) -> Path | None:
    """Hash the cached weights files in full; return the first that is a pinned file, else None.

    A match (re)writes the stamp, so a file the user copied into the cache by hand is accepted
    after one check (when its sha256 is pinned, or recorded by an earlier download).
    """
    for source in spec.weights_sources:
        path = weights_file_path(spec, source)
        if not path.is_file():
            continue
        record = read_stamp(path)
        expected = expected_sha256(source, record)
        if expected is None:
            continue  # a Hub file nobody vouched for: only a download or import can
        try:
            actual = sha256_file(path)
        except OSError as exc:
            raise WeightsError(f"cannot read cached weights {path}: {exc.strerror or exc}") from exc
        if actual != expected:
            # Same size and mtime but other bytes (disk damage): the stamp must not vouch for it.
            invalidate_stamp(path)
            continue
        write_stamp(path, actual, revision=record.revision if record else None, source=source)
        return path
    return None


def ensure_weights(
    spec: ModelSpec,
    *,
    download: bool = True,
    progress: bool | ProgressCallback = True,
    cancel: threading.Event | None = None,
) -> Path:
    """Return the spec's verified weights file, downloading it into the cache when missing.

    Sources are tried in order (the Hugging Face Hub first for OpenAI's CLIP); the first that
    delivers verified bytes wins.

    Args:
        spec: a model with pretrained weights.
        download: False never touches the network (a missing file is an error).
        progress: as for :func:`~dclip_core.models.download.download_file`.
        cancel: set it to stop a download in progress.

    Raises:
        WeightsMissingError: not cached and not downloadable (offline, ``DCLIP_OFFLINE=1``, no
            server reachable, or ``download=False``); the message names the files and both ways
            to provide them.
        DownloadError: a server answered but no source delivered the pinned file (HTTP error,
            truncated transfer, hash mismatch); the message names every source and its cause.
        DownloadCancelledError: ``cancel`` was set.
    """
    _weights_source(spec)
    cached = cached_weights_path(spec)
    if cached is not None:
        return cached
    damaged = any(weights_file_path(spec, s).is_file() for s in spec.weights_sources)
    if damaged:
        # Present but unstamped: copied in by hand, or the stamp was lost. One full check decides.
        verified = verify_cached_weights(spec)
        if verified is not None:
            return verified
    prefix = "the file there is damaged and " if damaged else ""
    if not download:
        reason = "the file there is damaged" if damaged else "downloading is turned off"
        raise WeightsMissingError(missing_weights_message(spec, reason))
    if is_offline():
        reason = f"{prefix}offline mode ({OFFLINE_ENV}=1 is set)"
        raise WeightsMissingError(missing_weights_message(spec, reason))
    failures: list[tuple[str, bool]] = []  # (cause, reached a server)
    for source in _sources_to_try(spec):
        try:
            return _download_source(spec, source, progress, cancel)
        except DownloadCancelledError:
            raise
        except _SourceFailedError as failed:
            failures.append((str(failed), failed.reached_server))
    causes = "; ".join(cause for cause, _ in failures)
    if not any(reached for _, reached in failures):
        raise WeightsMissingError(missing_weights_message(spec, f"{prefix}{causes}"))
    raise DownloadError(
        f"cannot download the weights of model {spec.name!r}: {causes}; you can also "
        f"{_manual_download_hint(spec)}"
    )


def missing_weights_message(spec: ModelSpec, reason: str) -> str:
    """One line naming the missing files, why they are missing, and both ways to provide them."""
    names = " or ".join(s.filename for s in spec.weights_sources) or _weights_source(spec).filename
    return (
        f"weights file {names} of model {spec.name!r} is not in {get_paths().weights_dir} "
        f"({reason}); to provide it, either run `dclip models download {spec.name}` when "
        f"online, or {_manual_download_hint(spec, on_another_machine=True)}"
    )


def import_weights(spec: ModelSpec, path: Path) -> Path:
    """Copy a weights file the user brings into the cache, after checking it is a pinned one.

    The file is hashed while it is copied to a temporary file beside the cache, which then
    replaces the cache entry of the source it matches in one rename: an interrupted import leaves
    the cache as it was. A file matches a source whose sha256 is pinned (or recorded by an earlier
    download); a Hub safetensors file whose sha256 DCLIP does not know is accepted when it holds
    exactly the model's parameters, and its sha256 is recorded from then on.

    Returns:
        The path of the weights in the cache.

    Raises:
        WeightsError: the model has no weights to import, the file is missing or unreadable, or
            it is none of the model's files (the message gives its hash and the expected ones).
    """
    _weights_source(spec)
    src = Path(path).expanduser()
    if not src.is_file():
        raise WeightsError(f"cannot import {src}: no such file")
    folder = get_paths().weights_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".import.", suffix=".part", dir=folder)
    except OSError as exc:
        raise WeightsError(
            f"cannot import {src}: cannot write to {folder} ({exc.strerror or exc})"
        ) from exc
    tmp = Path(tmp_name)
    try:
        actual = _copy_hashing(src, fd)
        source = _source_for_import(spec, tmp, actual)
        if source is None:
            raise WeightsError(
                f"refusing to import {src} as weights of model {spec.name!r}: its sha256 is "
                f"{actual}, expected {_expected_hashes(spec)}; "
                f"{_manual_download_hint(spec, verb='get the file from')}"
            )
        dest = weights_file_path(spec, source)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WeightsError(f"cannot import {src} into {folder}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    record = read_stamp(dest)
    revision = record.revision if record is not None and record.sha256 == actual else None
    write_stamp(dest, actual, revision=revision, source=source)
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


class _SourceFailedError(Exception):
    """One source did not deliver the weights; the next one may."""

    def __init__(self, message: str, *, reached_server: bool) -> None:
        super().__init__(message)
        self.reached_server = reached_server


def _sources_to_try(spec: ModelSpec) -> list[WeightsSource]:
    """The sources to download from, in order.

    ``DCLIP_WEIGHTS_MIRROR`` promises that the original hosts are not contacted: with it set, Hub
    files are fetched only when ``HF_ENDPOINT`` names a Hub mirror too.
    """
    from dclip_core.models.hub_download import HF_ENDPOINT_ENV

    mirrored = bool(os.environ.get(MIRROR_ENV, "").strip())
    hub_mirror = bool(os.environ.get(HF_ENDPOINT_ENV, "").strip())
    return [s for s in spec.weights_sources if s.hub is None or not mirrored or hub_mirror]


def _download_source(
    spec: ModelSpec,
    source: WeightsSource,
    progress: bool | ProgressCallback,
    cancel: threading.Event | None,
) -> Path:
    dest = weights_file_path(spec, source)
    if source.hub is None:
        try:
            path = download_file(
                source.urls, dest, sha256=source.sha256, progress=progress, cancel=cancel
            )
        except DownloadCancelledError:
            raise
        except NetworkUnavailableError as exc:
            raise _SourceFailedError(str(exc), reached_server=False) from exc
        except DownloadError as exc:
            raise _SourceFailedError(str(exc), reached_server=True) from exc
        # download_file only ever puts a verified file in place; sha256=None pins what arrived.
        write_stamp(path, source.sha256 or sha256_file(path), revision=None, source=source)
        return path
    return _download_hub_source(source, dest, progress, cancel)


def _download_hub_source(
    source: WeightsSource,
    dest: Path,
    progress: bool | ProgressCallback,
    cancel: threading.Event | None,
) -> Path:
    from dclip_core.models.hub_download import HubAttemptError, download_hub_file

    assert source.hub is not None
    record = read_stamp(dest)
    # The recorded commit and hash, unless the registry now pins another revision.
    usable = record if record is not None and expected_sha256(source, record) else None
    revision = source.hub.revision or (usable.revision if usable else None)
    expected = source.sha256 or (usable.sha256 if usable else None)
    causes: list[str] = []
    for _ in range(HUB_ATTEMPTS):
        try:
            got = download_hub_file(
                source.hub,
                dest,
                revision=revision,
                expected_sha256=expected,
                progress=progress,
                cancel=cancel,
            )
        except HubAttemptError as exc:
            causes.append(str(exc))
            if exc.retry:
                continue
            raise _SourceFailedError(
                f"cannot download {dest.name} from the {source.label or 'Hub'}: "
                + "; ".join(causes),
                reached_server=exc.reached_server,
            ) from None
        write_stamp(got.path, got.sha256, revision=got.revision, source=source)
        return got.path
    raise _SourceFailedError(
        f"cannot download {dest.name} from the {source.label or 'Hub'}: " + "; ".join(causes),
        reached_server=True,
    )


def _manual_download_hint(
    spec: ModelSpec, *, on_another_machine: bool = False, verb: str = "download"
) -> str:
    """How to bring the file by hand: every source's URL, then `dclip models import`."""
    urls = [s.urls[0] for s in spec.weights_sources if s.urls]
    first, others = urls[0], urls[1:]
    where = " on another machine" if on_another_machine else " yourself"
    alternatives = "".join(f" (or {url})" for url in others)
    if verb != "download":
        return f"{verb} {first}{alternatives}"
    return f"download {first}{where}{alternatives} and run `dclip models import {spec.name} PATH`"


def _expected_hashes(spec: ModelSpec) -> str:
    parts = []
    for source in spec.weights_sources:
        record = read_stamp(weights_file_path(spec, source))
        sha = expected_sha256(source, record)
        if sha is not None:
            parts.append(f"{sha} ({source.filename})")
        elif source.hub is not None:
            parts.append(f"the Hub's {source.hub.filename} ({source.hub.repo_id})")
    return " or ".join(parts)


def _copy_hashing(src: Path, fd: int) -> str:
    """Copy ``src`` into the open file ``fd`` (fsynced); return the sha256 of what was copied."""
    hasher = hashlib.sha256()
    with os.fdopen(fd, "wb") as out:
        try:
            with open(src, "rb") as f:
                while chunk := f.read(_COPY_CHUNK_BYTES):
                    hasher.update(chunk)
                    out.write(chunk)
        except OSError as exc:  # reading the source or writing the copy (disk full)
            raise WeightsError(f"cannot import {src}: {exc.strerror or exc}") from exc
        out.flush()
        os.fsync(out.fileno())
    return hasher.hexdigest()


def _source_for_import(spec: ModelSpec, copy: Path, sha256: str) -> WeightsSource | None:
    """The source whose file ``copy`` is: by pinned or recorded hash, else by content."""
    sources = spec.weights_sources
    for source in sources:
        if expected_sha256(source, read_stamp(weights_file_path(spec, source))) == sha256:
            return source
    for source in sources:
        if source.hub is not None and source.sha256 is None and _holds_model_parameters(copy, spec):
            return source
    return None


def _holds_model_parameters(path: Path, spec: ModelSpec) -> bool:
    """True for a safetensors file with exactly the model's parameter names and shapes.

    safetensors runs no code when read, so where the Hub file's hash is not pinned, this is what
    an import can check: that the file is the model's weights, not something else. The header is
    compared with the spec's recorded :attr:`~ModelSpec.parameters_sha256`, without torch.
    """
    if spec.parameters_sha256 is None:
        return False
    try:
        if detect_weights_format(path) != "safetensors":
            return False
    except WeightsError:
        return False
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118
    except Exception:  # safetensors raises its own error types for a damaged header
        return False
    return parameters_signature(shapes) == spec.parameters_sha256


def _weights_source(spec: ModelSpec) -> WeightsSource:
    if spec.weights is None:
        raise WeightsError(
            f"model {spec.name!r} has no weights file: it is randomly initialised from a seed"
        )
    return spec.weights


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
