"""Verified downloads: stream a pinned file over HTTP(S), check its sha256, then move it into place.

Used for CLIP weights (:mod:`dclip_core.models.weights`) and any other file whose content is pinned
by a hash (YOLO weights, …). What a caller can rely on:

- A file appears at ``dest`` only complete and verified: the bytes go to ``<dest>.part``, are
  hashed while they stream, and the part file is renamed onto ``dest`` (atomically) only when the
  length matches ``Content-Length`` and the sha256 matches the pinned one.
- A failed, truncated or cancelled transfer deletes its part file. A part file left by a killed
  process is never read back, only replaced by the next download. Resume (HTTP ``Range``) is
  deliberately not implemented: weights are a few hundred MB, and restarting is simpler to get right
  than stitching bytes from two responses that may come from different mirrors.
- Two downloads of the same file at once (say the app and the CLI) do not corrupt each other: the
  second sees a part file that is still growing and stops with a message saying so.
- ``DCLIP_OFFLINE=1`` never touches the network; ``DCLIP_WEIGHTS_MIRROR=URL`` fetches every file
  from ``URL/<file name>`` instead of its original host (in-house mirrors, and local test servers).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from email.message import Message
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from dclip_core import __version__
from dclip_core.errors import DownloadCancelledError, DownloadError, NetworkUnavailableError

OFFLINE_ENV = "DCLIP_OFFLINE"
MIRROR_ENV = "DCLIP_WEIGHTS_MIRROR"

ProgressCallback = Callable[[int, int | None], None]
"""``callback(done_bytes, total_bytes)``; ``total_bytes`` is None when the server does not say.
It may raise to cancel the download (the exception propagates after the part file is deleted)."""

# Small enough that cancel and progress react within a fraction of a second on slow links.
_CHUNK_BYTES = 256 * 1024
_HASH_CHUNK_BYTES = 1 << 20


def is_offline() -> bool:
    """True when ``DCLIP_OFFLINE`` asks DCLIP never to use the network."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def mirrored_urls(urls: Sequence[str]) -> list[str]:
    """The URLs to try, in order: ``urls`` as given, or rebased onto ``DCLIP_WEIGHTS_MIRROR``.

    A mirror is a flat folder: ``https://host/a/b/ViT-B-32.pt`` becomes ``MIRROR/ViT-B-32.pt``.
    URLs that map to the same mirror URL are tried once.
    """
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return list(urls)
    rebased: list[str] = []
    for url in urls:
        name = Path(urllib.parse.urlparse(url).path).name
        candidate = f"{mirror.rstrip('/')}/{urllib.parse.quote(name)}"
        if candidate not in rebased:
            rebased.append(candidate)
    return rebased


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's content, read in chunks (weights do not fit in memory twice)."""
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()


class _AttemptFailedError(Exception):
    """One URL did not deliver the file; the next URL may still work."""

    def __init__(self, message: str, *, reached_server: bool) -> None:
        super().__init__(message)
        self.reached_server = reached_server


def download_file(
    urls: Sequence[str],
    dest: Path,
    *,
    sha256: str | None,
    progress: bool | ProgressCallback = True,
    timeout: float = 30.0,
    cancel: threading.Event | None = None,
) -> Path:
    """Download a pinned file to ``dest``, trying ``urls`` in order.

    Args:
        urls: where the file can be fetched (rebased by ``DCLIP_WEIGHTS_MIRROR`` when set).
        dest: final path; its folder is created. An existing file there is replaced only by a
            verified download.
        sha256: the expected hex digest; anything else is refused. ``None`` accepts any complete
            transfer — only for files whose publisher gives no hash (YOLO weights); the caller
            pins the digest of what arrived (trust on first use).
        progress: True for a progress bar on stderr (bytes, rate, ETA), False for silence, or a
            :data:`ProgressCallback` (the app draws its own bar).
        timeout: seconds to wait for a connection and for each read.
        cancel: set this event (from any thread) to stop the download.

    Returns:
        ``dest``.

    Raises:
        NetworkUnavailableError: offline mode, or no URL could be reached at all.
        DownloadCancelledError: ``cancel`` was set.
        DownloadError: every URL failed (HTTP error, truncated transfer, hash mismatch); the
            message names the file and each URL's cause.
    """
    if not urls:
        raise ValueError("download_file needs at least one URL")
    expected = sha256.strip().lower() if sha256 is not None else None
    if is_offline():
        raise NetworkUnavailableError(
            f"cannot download {dest.name}: offline mode ({OFFLINE_ENV}=1 is set)"
        )
    part = dest.with_name(dest.name + ".part")
    failures: list[_AttemptFailedError] = []
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with _claim_part_file(part, timeout) as out:
            try:
                for url in mirrored_urls(urls):
                    try:
                        _fetch_into(url, out, expected, progress, timeout, cancel, dest.name)
                    except _AttemptFailedError as failure:
                        failures.append(failure)
                        continue
                    out.close()
                    os.replace(part, dest)
                    return dest
            except BaseException:
                # Cancelled, interrupted, disk full, or a callback raised: leave nothing that
                # looks like data.
                out.close()
                part.unlink(missing_ok=True)
                raise
        part.unlink(missing_ok=True)
    except OSError as exc:
        # Network errors never get here (they are per-URL failures): this is the local disk.
        raise DownloadError(
            f"cannot save {dest.name} in {dest.parent}: {exc.strerror or exc}; "
            "check free space and permissions"
        ) from exc
    causes = "; ".join(str(f) for f in failures)
    if not any(f.reached_server for f in failures):
        raise NetworkUnavailableError(f"cannot download {dest.name}: {causes}")
    raise DownloadError(f"cannot download {dest.name}: {causes}")


@contextlib.contextmanager
def _claim_part_file(part: Path, timeout: float) -> Iterator[BinaryIO]:
    """Create ``part`` exclusively, so two processes never write the same part file.

    A part file that is still being written (changed recently) belongs to another download in
    progress: refuse. One that has not changed for a long while was left by a killed process:
    replace it.
    """
    # Longer than any pause a live download makes: each connect and each read waits <= timeout.
    stale_after_s = max(120.0, 4 * timeout)
    for _ in range(3):
        try:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                age_s = time.time() - part.stat().st_mtime
            except FileNotFoundError:
                continue  # the other download just finished or gave up
            if age_s < stale_after_s:
                raise DownloadError(
                    f"cannot download {part.name.removesuffix('.part')}: another download of it "
                    f"is in progress ({part} changed {age_s:.0f} s ago); wait for it to finish, "
                    "or delete that file if no download is running"
                ) from None
            part.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "wb") as out:
            yield out
        return
    raise DownloadError(f"cannot create {part}: another process keeps recreating it")


def _fetch_into(
    url: str,
    out: BinaryIO,
    expected_sha256: str | None,
    progress: bool | ProgressCallback,
    timeout: float,
    cancel: threading.Event | None,
    label: str,
) -> None:
    """Stream ``url`` into ``out`` (from its start) and check length and hash.

    Raises:
        _AttemptFailedError: this URL did not deliver the pinned file.
    """
    out.seek(0)
    out.truncate()
    request = urllib.request.Request(url, headers={"User-Agent": f"dclip/{__version__}"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _AttemptFailedError(
            f"{url}: HTTP {exc.code} {exc.reason}", reached_server=True
        ) from None
    except urllib.error.URLError as exc:
        raise _AttemptFailedError(f"{url}: {exc.reason}", reached_server=False) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _AttemptFailedError(f"{url}: {exc!r}", reached_server=False) from None

    with response:
        total = _content_length(response.headers)
        hasher = hashlib.sha256()
        done = 0
        bar = None
        if progress is True:
            bar = tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=label,
                file=sys.stderr,
                leave=True,
            )
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    raise DownloadCancelledError(f"download of {label} cancelled")
                try:
                    chunk = response.read(_CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as exc:
                    raise _AttemptFailedError(
                        f"{url}: connection lost after {done} bytes ({exc!r})", reached_server=True
                    ) from None
                if not chunk:
                    break
                out.write(chunk)
                hasher.update(chunk)
                done += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
                elif callable(progress):
                    progress(done, total)
        finally:
            if bar is not None:
                bar.close()

    if total is not None and done != total:
        raise _AttemptFailedError(
            f"{url}: transfer cut short ({done} of {total} bytes)", reached_server=True
        )
    actual = hasher.hexdigest()
    if expected_sha256 is not None and actual != expected_sha256:
        raise _AttemptFailedError(
            f"{url}: sha256 mismatch (expected {expected_sha256}, got {actual})",
            reached_server=True,
        )
    out.flush()
    os.fsync(out.fileno())


def _content_length(headers: Message) -> int | None:
    value = headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
