"""The verified downloader against a real HTTP server on 127.0.0.1 that misbehaves on purpose."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dclip_core.errors import DownloadCancelledError, DownloadError, NetworkUnavailableError
from dclip_core.models.download import download_file, mirrored_urls, sha256_file
from tests.helpers.local_http import LocalFileServer, Route, closed_port_url, serve_files

# Several read chunks long, so progress, cancel and truncation happen mid-transfer.
PAYLOAD = random.Random(7).randbytes(1_500_000)
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(scope="module")
def server() -> Iterator[LocalFileServer]:
    with serve_files() as files:
        files.add("good/file.bin", Route(PAYLOAD))
        files.add("short/file.bin", Route(PAYLOAD, truncate_after=len(PAYLOAD) // 3))
        files.add("other/file.bin", Route(PAYLOAD[::-1]))
        files.add("broken/file.bin", Route(status=500))
        yield files


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "file.bin"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_verifies_and_places_the_file(server: LocalFileServer, dest: Path) -> None:
    calls: list[tuple[int, int | None]] = []

    path = download_file(
        [server.url("good/file.bin")],
        dest,
        sha256=PAYLOAD_SHA256,
        progress=lambda done, total: calls.append((done, total)),
    )

    assert path == dest
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(dest.parent) == ["file.bin"]
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert len(calls) > 1


def test_progress_bar_goes_to_stderr(
    server: LocalFileServer, dest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    download_file([server.url("good/file.bin")], dest, sha256=PAYLOAD_SHA256, progress=True)

    captured = capsys.readouterr()
    assert captured.out == ""
    assert "file.bin" in captured.err
    assert "100%" in captured.err


def test_truncated_transfer_leaves_nothing(server: LocalFileServer, dest: Path) -> None:
    with pytest.raises(DownloadError, match=r"file\.bin.*cut short") as info:
        download_file([server.url("short/file.bin")], dest, sha256=PAYLOAD_SHA256, progress=False)

    assert not isinstance(info.value, NetworkUnavailableError)
    assert _leftovers(dest.parent) == []


def test_hash_mismatch_is_refused_and_keeps_the_old_file(
    server: LocalFileServer, dest: Path
) -> None:
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"previous content")
    actual = hashlib.sha256(PAYLOAD[::-1]).hexdigest()

    with pytest.raises(DownloadError, match=f"expected {PAYLOAD_SHA256}, got {actual}"):
        download_file([server.url("other/file.bin")], dest, sha256=PAYLOAD_SHA256, progress=False)

    assert dest.read_bytes() == b"previous content"
    assert _leftovers(dest.parent) == ["file.bin"]


@pytest.mark.parametrize(
    ("path", "status"), [("missing/file.bin", "404"), ("broken/file.bin", "500")]
)
def test_http_error_names_the_url_and_status(
    server: LocalFileServer, dest: Path, path: str, status: str
) -> None:
    url = server.url(path)
    with pytest.raises(DownloadError, match=f"file.bin: {url}: HTTP {status}") as info:
        download_file([url], dest, sha256=PAYLOAD_SHA256, progress=False)

    assert not isinstance(info.value, NetworkUnavailableError)
    assert _leftovers(dest.parent) == []


def test_falls_back_to_the_next_url(server: LocalFileServer, dest: Path) -> None:
    before = server.requests_for("short/file.bin")

    download_file(
        [server.url("short/file.bin"), server.url("good/file.bin")],
        dest,
        sha256=PAYLOAD_SHA256,
        progress=False,
    )

    assert server.requests_for("short/file.bin") == before + 1
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(dest.parent) == ["file.bin"]


def test_all_urls_failing_lists_every_cause(server: LocalFileServer, dest: Path) -> None:
    with pytest.raises(DownloadError) as info:
        download_file(
            [server.url("missing/file.bin"), server.url("other/file.bin")],
            dest,
            sha256=PAYLOAD_SHA256,
            progress=False,
        )

    message = str(info.value)
    assert "HTTP 404" in message
    assert "sha256 mismatch" in message
    assert "\n" not in message


def test_unreachable_server_is_network_unavailable(dest: Path) -> None:
    with pytest.raises(NetworkUnavailableError, match=r"file\.bin.*refused"):
        download_file([closed_port_url()], dest, sha256=PAYLOAD_SHA256, progress=False)

    assert _leftovers(dest.parent) == []


def test_offline_mode_never_connects(
    server: LocalFileServer, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCLIP_OFFLINE", "1")
    before = len(server.requests)

    with pytest.raises(NetworkUnavailableError, match="DCLIP_OFFLINE"):
        download_file([server.url("good/file.bin")], dest, sha256=PAYLOAD_SHA256, progress=False)

    assert len(server.requests) == before
    assert not dest.exists()


def test_mirror_replaces_the_base_of_every_url(
    server: LocalFileServer, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCLIP_WEIGHTS_MIRROR", server.url("good") + "/")
    # The original host is never contacted (the test sandbox would refuse it anyway).
    original = "https://weights.example.com/models/abc/file.bin"

    assert mirrored_urls([original, "https://elsewhere.example.org/file.bin"]) == [
        server.url("good/file.bin")
    ]
    download_file([original], dest, sha256=PAYLOAD_SHA256, progress=False)

    assert dest.read_bytes() == PAYLOAD


def test_cancel_event_stops_and_cleans_up(server: LocalFileServer, dest: Path) -> None:
    cancel = threading.Event()

    with pytest.raises(DownloadCancelledError):
        download_file(
            [server.url("good/file.bin")],
            dest,
            sha256=PAYLOAD_SHA256,
            progress=lambda done, total: cancel.set(),
            cancel=cancel,
        )

    assert _leftovers(dest.parent) == []


def test_an_exception_from_the_callback_cancels(server: LocalFileServer, dest: Path) -> None:
    class StopDownloadError(Exception):
        pass

    def stop(done: int, total: int | None) -> None:
        raise StopDownloadError

    with pytest.raises(StopDownloadError):
        download_file([server.url("good/file.bin")], dest, sha256=PAYLOAD_SHA256, progress=stop)

    assert _leftovers(dest.parent) == []


def test_a_part_file_being_written_means_another_download(
    server: LocalFileServer, dest: Path
) -> None:
    dest.parent.mkdir(parents=True)
    part = dest.with_name("file.bin.part")
    part.write_bytes(b"someone else's bytes")

    with pytest.raises(DownloadError, match="in progress"):
        download_file([server.url("good/file.bin")], dest, sha256=PAYLOAD_SHA256, progress=False)

    assert part.read_bytes() == b"someone else's bytes"
    assert not dest.exists()


def test_a_stale_part_file_is_replaced(server: LocalFileServer, dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    part = dest.with_name("file.bin.part")
    part.write_bytes(PAYLOAD[:1000])
    hour_ago = time.time() - 3600
    os.utime(part, (hour_ago, hour_ago))

    download_file([server.url("good/file.bin")], dest, sha256=PAYLOAD_SHA256, progress=False)

    assert dest.read_bytes() == PAYLOAD
    assert not part.exists()


def test_unwritable_destination_is_a_download_error(
    server: LocalFileServer, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")

    with pytest.raises(DownloadError, match=r"cannot save file\.bin"):
        download_file(
            [server.url("good/file.bin")],
            blocker / "file.bin",
            sha256=PAYLOAD_SHA256,
            progress=False,
        )


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "payload"
    path.write_bytes(PAYLOAD)
    assert sha256_file(path) == PAYLOAD_SHA256
