"""What the first-run panel says when a step fails: one plain sentence chosen by the error's type,
whatever its wording, with the full technical text kept for the Details area."""

from __future__ import annotations

import errno
import socket
import urllib.error
from email.message import Message

import pytest

from dclip_app.messages import Step, describe_failure
from dclip_core.errors import (
    DemoError,
    DownloadError,
    ExportError,
    NetworkUnavailableError,
    WeightsError,
    WeightsMissingError,
)

CDN = "https://openaipublic.azureedge.net/clip/models/40d3/ViT-B-32.pt"


def offline_download_error() -> WeightsMissingError:
    """The chain ensure_weights raises offline today, with its long, technical message."""
    reason = f"{CDN}: [Errno -2] Name or service not known"
    try:
        try:
            raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))
        except urllib.error.URLError:
            raise NetworkUnavailableError(f"cannot download ViT-B-32.pt: {reason}") from None
    except NetworkUnavailableError as exc:
        try:
            raise WeightsMissingError(
                "weights file ViT-B-32.pt of model 'clip-vit-b-32' is not in "
                f"/home/ann/.cache/dclip/weights ({exc}); to provide it, either run `dclip models "
                f"download clip-vit-b-32` when online, or download {CDN} on another machine and "
                "run `dclip models import clip-vit-b-32 PATH`"
            ) from exc
        except WeightsMissingError as missing:
            return missing


def caused_by(error: Exception, cause: BaseException) -> Exception:
    error.__cause__ = cause
    return error


def http_error(code: int) -> urllib.error.HTTPError:
    return urllib.error.HTTPError(CDN, code, "Not Found", Message(), None)


class ConnectError(Exception):
    """Stands for httpx's, which a Hub download may raise when the host cannot be reached."""


def test_offline_download_is_one_sentence_and_the_details_keep_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DCLIP_OFFLINE", raising=False)
    message = describe_failure(offline_download_error(), "download")
    assert message.summary == (
        "Can't reach the download server — check the connection, or import the weights file or "
        "try the demo instead."
    )
    assert CDN in message.details
    assert "/home/ann/.cache/dclip/weights" in message.details
    assert "caused by: NetworkUnavailableError" in message.details
    assert message.details.startswith("WeightsMissingError: weights file ViT-B-32.pt")


@pytest.mark.parametrize(
    "error",
    [
        NetworkUnavailableError("no source answered: Hugging Face Hub (timed out), CDN (refused)"),
        WeightsMissingError("anything at all; run `dclip models import clip-vit-b-32 PATH`"),
        caused_by(DownloadError("whatever the new wording is"), ConnectError("connect failed")),
        caused_by(RuntimeError("hub client failed"), ConnectionRefusedError(111, "refused")),
        TimeoutError("timed out"),
    ],
    ids=["network-unavailable", "weights-missing", "third-party-connect", "refused", "timeout"],
)
def test_an_unreachable_server_reads_the_same_whatever_the_message(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DCLIP_OFFLINE", raising=False)
    assert describe_failure(error, "download").summary.startswith("Can't reach the download server")


def test_offline_mode_says_downloads_are_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCLIP_OFFLINE", "1")
    summary = describe_failure(offline_download_error(), "download").summary
    assert summary.startswith("Downloads are turned off on this computer (DCLIP_OFFLINE)")
    assert "import the weights file or try the demo" in summary


@pytest.mark.parametrize(
    ("error", "step", "expected"),
    [
        (
            caused_by(DownloadError("HTTP 404"), http_error(404)),
            "download",
            "The download did not finish — retry, or import",
        ),
        (
            caused_by(DownloadError("cannot save"), OSError(errno.ENOSPC, "No space left")),
            "download",
            "The disk is full",
        ),
        (
            caused_by(DownloadError("cannot save"), PermissionError(errno.EACCES, "denied")),
            "download",
            "DCLIP may not write to its cache folder",
        ),
        (WeightsError("its sha256 is 00ff, expected abcd"), "import", "That file can't be used"),
        (ExportError("preparing model failed: out of memory"), "prepare", "Preparing the model"),
        (DemoError("building the demo failed: cannot create"), None, "Building the demo"),
        (RuntimeError("boom"), "download", "The download did not work because of an unexpected"),
        (KeyError("boom"), None, "That did not work because of an unexpected error"),
    ],
)
def test_each_failure_gets_its_own_plain_sentence(
    error: Exception, step: Step | None, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DCLIP_OFFLINE", raising=False)
    message = describe_failure(error, step)
    assert message.summary.startswith(expected)
    # One sentence a person reads: no line breaks, paths, URLs or errno, short enough to scan.
    assert "\n" not in message.summary
    assert not any(word in message.summary for word in ("http", "/", "Errno", "sha256"))
    assert len(message.summary) <= 140
    assert str(error).strip("'") in message.details
