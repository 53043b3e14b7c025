"""Verified downloads from the Hugging Face Hub, through huggingface_hub.

huggingface_hub brings what a hand-written client would get wrong: redirects to the LFS storage,
resume after a dropped connection, ``HF_ENDPOINT`` mirrors and offline mode. It does not check
the bytes against a hash, so :func:`download_hub_file` does, in these steps:

1. Ask the Hub for the file's metadata at the revision (a pinned commit, or ``main``): the commit
   it resolves to (``X-Repo-Commit``), the sha256 of the LFS file (``X-Linked-Etag``) and its size.
2. Refuse before downloading when the commit is not the pinned one, the Hub declares no sha256, or
   the declared sha256 is not the one DCLIP expects.
3. ``hf_hub_download`` at exactly that commit into a private staging folder beside ``dest``
   (``local_dir``; its cache reads go to DCLIP's cache, never ``~/.cache``), reporting progress and
   honouring cancel through a tqdm class of our own.
4. Hash the bytes; refuse them unless they are the declared sha256; rename them onto ``dest``.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dclip_core import __version__
from dclip_core.config.paths import get_paths
from dclip_core.errors import DownloadCancelledError
from dclip_core.models.download import ProgressCallback, sha256_file
from dclip_core.models.registry import HUB_ENDPOINT, HubFile

HF_ENDPOINT_ENV = "HF_ENDPOINT"
HF_OFFLINE_ENV = "HF_HUB_OFFLINE"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")


def hub_endpoint() -> str:
    """The Hub to use: ``HF_ENDPOINT`` (a mirror) when set, read at each call, else the Hub."""
    return os.environ.get(HF_ENDPOINT_ENV, "").strip().rstrip("/") or HUB_ENDPOINT


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks huggingface_hub never to use the network."""
    return os.environ.get(HF_OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class HubDownload:
    """A verified file from the Hub: where it is now, and the commit and sha256 it was at."""

    path: Path
    revision: str
    sha256: str


class HubAttemptError(Exception):
    """The Hub did not deliver the file; ``reached_server`` tells a refusal from no network."""

    def __init__(self, message: str, *, reached_server: bool, retry: bool = False) -> None:
        super().__init__(message)
        self.reached_server = reached_server
        self.retry = retry  # a bad transfer: asking again may well work
        self.http_status = 0


def download_hub_file(
    hub: HubFile,
    dest: Path,
    *,
    revision: str | None,
    expected_sha256: str | None,
    progress: bool | ProgressCallback,
    cancel: threading.Event | None = None,
    timeout: float = 30.0,
) -> HubDownload:
    """Download ``hub`` at ``revision`` (default: the file's pinned one, else ``main``) to ``dest``.

    Args:
        hub: the file on the Hub.
        dest: final path; replaced only by verified bytes.
        revision: the commit to ask for (a recorded one); None uses ``hub.revision`` or ``main``.
        expected_sha256: refuse any other content; None accepts what the Hub declares.
        progress: True for a bar on stderr, False for silence, or a callback (it may raise).
        cancel: set it to stop the transfer.
        timeout: seconds to wait for the Hub's metadata.

    Raises:
        HubAttemptError: the Hub was unreachable, or refused or garbled the file.
        DownloadCancelledError: ``cancel`` was set.
    """
    endpoint = hub_endpoint()
    rev = revision or hub.revision or "main"
    url = hub.url(endpoint, rev)
    if hub_offline():
        raise HubAttemptError(
            f"{url}: offline mode ({HF_OFFLINE_ENV}=1 is set)", reached_server=False
        )
    commit, declared = _declared_metadata(url, timeout, endpoint)
    if _COMMIT.fullmatch(rev) and commit != rev:
        raise HubAttemptError(
            f"{url}: the Hub answered with commit {commit}, not the pinned {rev}",
            reached_server=True,
        )
    if expected_sha256 is not None and declared != expected_sha256:
        raise HubAttemptError(
            f"{url}: the Hub declares sha256 {declared} at commit {commit}, DCLIP expects "
            f"{expected_sha256}",
            reached_server=True,
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".hub", dir=dest.parent))
    try:
        bar = _progress_class(dest.name, progress, cancel)
        staged = _fetch(hub, commit, staging, endpoint, timeout, bar)
        actual = sha256_file(staged)
        if actual != declared:
            raise HubAttemptError(
                f"{url}: sha256 mismatch (the Hub declares {declared}, got {actual})",
                reached_server=True,
                retry=True,
            )
        os.replace(staged, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # huggingface_hub's metadata and partial files
    return HubDownload(dest, commit, declared)


def _declared_metadata(url: str, timeout: float, endpoint: str) -> tuple[str, str]:
    """The commit and the LFS sha256 the Hub declares for ``url`` (a HEAD request)."""
    from huggingface_hub import get_hf_file_metadata

    try:
        meta = get_hf_file_metadata(
            url,
            token=False,  # public weights: never send a user's token to a mirror
            timeout=timeout,
            library_name="dclip",
            library_version=__version__,
            endpoint=endpoint,
        )
    except Exception as exc:
        raise _attempt_error(url, exc) from None
    declared = (meta.etag or "").lower()
    if meta.commit_hash is None:
        raise HubAttemptError(
            f"{url}: the answer has no X-Repo-Commit header (is {HF_ENDPOINT_ENV} a Hub mirror?)",
            reached_server=True,
        )
    if not _SHA256.fullmatch(declared):
        raise HubAttemptError(
            f"{url}: the Hub declares no sha256 for it (ETag {meta.etag!r}): not an LFS file",
            reached_server=True,
        )
    return meta.commit_hash, declared


def _fetch(
    hub: HubFile, commit: str, staging: Path, endpoint: str, timeout: float, bar: type[tqdm]
) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(
            hub.repo_id,
            hub.filename,
            revision=commit,
            local_dir=staging,
            # Read-only here (a blob it already has), but never the user's ~/.cache.
            cache_dir=get_paths().cache_dir / "huggingface",
            endpoint=endpoint,
            token=False,
            etag_timeout=timeout,
            library_name="dclip",
            library_version=__version__,
            tqdm_class=bar,
        )
    except DownloadCancelledError:
        raise
    except Exception as exc:
        error = _attempt_error(hub.url(endpoint, commit), exc)
        if not error.http_status:
            error.retry = error.reached_server  # cut short or garbled: worth another try
        raise error from None
    return Path(str(path))


def _http_client_errors() -> tuple[
    tuple[type[BaseException], ...], tuple[type[BaseException], ...]
]:
    """(no connection, connection broke mid-answer) error types of huggingface_hub's client.

    huggingface_hub 1.x speaks through httpx, 2.x through httpx2; both are looked up.
    """
    unreachable: list[type[BaseException]] = []
    broken: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        try:
            client = importlib.import_module(name)
        except ImportError:
            continue
        unreachable += [client.ConnectError, client.TimeoutException]
        broken += [client.HTTPError]
    return tuple(unreachable), tuple(broken)


def _attempt_error(url: str, exc: Exception) -> HubAttemptError:
    """Say in one line why huggingface_hub gave up, and whether it reached a server at all."""
    from huggingface_hub.utils import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    unreachable, broken = _http_client_errors()
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        error = HubAttemptError(f"{url}: HTTP {status or '?'}", reached_server=True)
        error.http_status = status
        return error
    if isinstance(exc, (LocalEntryNotFoundError, OfflineModeIsEnabled, *unreachable)):
        cause = exc.__cause__ or exc
        return HubAttemptError(f"{url}: {_first_line(cause)}", reached_server=False)
    if isinstance(exc, (OSError, *broken)):
        return HubAttemptError(f"{url}: {_first_line(exc)}", reached_server=True)
    raise exc  # a bug, or a progress callback that stopped the download: not ours to rename


def _progress_class(
    label: str, progress: bool | ProgressCallback, cancel: threading.Event | None
) -> type[tqdm]:
    """A tqdm class for huggingface_hub that draws our bar or feeds ``progress``, and cancels.

    huggingface_hub takes a class, not an instance, so the callback and the event live in a
    closure. Raising from ``update`` stops the transfer; huggingface_hub deletes its partial file.
    """

    class HubProgress(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)
            kwargs.update(desc=label, disable=progress is not True, file=sys.stderr)
            kwargs.setdefault("unit_divisor", 1024)
            self._done = int(kwargs.get("initial") or 0)
            self._expected: int | None = kwargs.get("total")
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            if cancel is not None and cancel.is_set():
                raise DownloadCancelledError(f"download of {label} cancelled")
            self._done += int(n or 0)  # negative when a resume restarts from zero
            shown = super().update(n)
            if callable(progress):
                progress(self._done, self._expected)
            return shown

    return HubProgress


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
