"""What the app says when a background step fails: one plain sentence, the technical text behind it.

A failed download, import, export or demo build ends in an exception whose message is written for
the command line and bug reports: file names, the cache path, URLs, ``[Errno -2] Name or service
not known``. Shown as is, it fills the first-run panel and tells a new user nothing they can act on.
So the panel shows :attr:`FailureMessage.summary`, one sentence that says what happened and what to
do next, and keeps :attr:`FailureMessage.details` one click away (and in the log).

The sentence is chosen by the exception's *type* and the types of its causes, never by its wording:
the download code may reword its messages (or change where it downloads from) without the panel
starting to say something wrong. No Qt here, so the wording is tested without a window.
"""

from __future__ import annotations

import errno
import socket
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from dclip_core.errors import (
    BundleError,
    ConfigError,
    DclipError,
    DemoError,
    DownloadCancelledError,
    DownloadError,
    ExportError,
    NetworkUnavailableError,
    UnknownModelError,
    WeightsError,
    WeightsMissingError,
)
from dclip_core.models.download import OFFLINE_ENV, is_offline

Step = Literal["download", "import", "prepare", "demo"]
"""The first-run step that failed; it picks the wording when the error's type alone cannot."""

# Errors of the network libraries a download source may use (requests, httpx, huggingface_hub)
# when the host cannot be reached, matched by class name so this module imports none of them.
_UNREACHABLE_TYPE_NAMES = frozenset(
    {"ConnectError", "ConnectTimeout", "ConnectionError", "OfflineModeIsEnabled"}
)

_UNREACHABLE_TYPES = (urllib.error.URLError, socket.gaierror, ConnectionError, TimeoutError)
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)

_INSTEAD = "import the weights file or try the demo instead"

_FAILED: dict[Step, str] = {
    "download": "The download did not work",
    "import": "The weights file could not be imported",
    "prepare": "Preparing the model did not work",
    "demo": "Building the demo did not work",
}


@dataclass(frozen=True)
class FailureMessage:
    """What to tell the user about a failure.

    Attributes:
        summary: one sentence for the panel: what happened and what to do, no paths or URLs.
        details: the full technical text (exception types and messages, causes included), for the
            Details area and the log.
    """

    summary: str
    details: str


def describe_failure(error: BaseException, step: Step | None = None) -> FailureMessage:
    """Turn an exception of a first-run step into one plain sentence plus its full text.

    Args:
        error: what the background task raised.
        step: which step failed, when known; it words the fallback sentence.
    """
    return FailureMessage(_summary(error, step), failure_details(error))


def failure_details(error: BaseException) -> str:
    """The error's type and message, then each cause's (what a bug report needs).

    Our messages chain their clauses with "; " on one line, which suits a terminal; here each
    clause starts a line, so a long message (every source tried, with its URL) can be read.
    """
    lines = []
    for number, link in enumerate(_chain(error)):
        prefix = "" if number == 0 else "caused by: "
        text = str(link).strip().replace("; ", ";\n  ")
        lines.append(f"{prefix}{type(link).__name__}: {text}" if text else type(link).__name__)
    return "\n".join(lines)


def _summary(error: BaseException, step: Step | None) -> str:
    failed = _FAILED[step] if step else "That did not work"
    if isinstance(error, DownloadCancelledError):
        return "The download was cancelled; nothing was kept."
    if _is_unreachable(error):
        if is_offline():
            return f"Downloads are turned off on this computer ({OFFLINE_ENV}) — {_INSTEAD}."
        return f"Can't reach the download server — check the connection, or {_INSTEAD}."
    if _has_errno(error, errno.ENOSPC, errno.EDQUOT):
        return "The disk is full — free some space on it, then retry."
    if isinstance(error, DownloadError) and _has_errno(error, *_NOT_WRITABLE):
        return (
            "DCLIP may not write to its cache folder — check the permissions of the folder named "
            "in the details."
        )
    if isinstance(error, DownloadError):
        return f"The download did not finish — retry, or {_INSTEAD}."
    if isinstance(error, WeightsError):
        return (
            "That file can't be used: it is not the weights file this model expects, or it can't "
            "be read — choose the right file, or try the demo."
        )
    if isinstance(error, (UnknownModelError, ConfigError)):
        return "The model in your settings can't be used — choose another one in Settings."
    if isinstance(error, BundleError):
        return "The prepared model can't be opened — retry to prepare it again."
    if isinstance(error, ExportError):
        return "Preparing the model did not work — retry; the details say what went wrong."
    if isinstance(error, DemoError):
        return "Building the demo did not work — retry; the details say what went wrong."
    if isinstance(error, DclipError):
        return f"{failed} — retry; the details say what went wrong."
    # Not one of ours: a bug, or an error nobody anticipated. The log has its traceback.
    return f"{failed} because of an unexpected error — the details (also in the log) say what."


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, then its causes (``raise … from``) or the errors it happened during."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        # As a traceback shows it: `raise … from None` hides the error it happened during.
        link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)


def _is_unreachable(error: BaseException) -> bool:
    """True when no download source could be reached at all (offline, DNS, refused, timed out)."""
    for link in _chain(error):
        if isinstance(link, (NetworkUnavailableError, WeightsMissingError)):
            # WeightsMissingError during a download: not cached, and no source answered.
            return True
        if isinstance(link, DclipError):
            continue  # a DownloadError: a server answered, but did not deliver the file
        if isinstance(link, urllib.error.HTTPError):
            return False  # a server answered with an error status
        if isinstance(link, _UNREACHABLE_TYPES):
            return True
        if any(cls.__name__ in _UNREACHABLE_TYPE_NAMES for cls in type(link).__mro__):
            return True
    return False


def _has_errno(error: BaseException, *numbers: int) -> bool:
    """True when the error or one of its causes is an ``OSError`` with one of these errnos."""
    return any(isinstance(link, OSError) and link.errno in numbers for link in _chain(error))
