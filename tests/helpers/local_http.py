"""A file server on 127.0.0.1 that can misbehave on purpose, for testing downloads offline.

Each route answers a path with a body, an HTTP error or redirect (with headers of its own), or a
body cut short after a given number of bytes (the ``Content-Length`` header still announces the
whole body, and the connection closes, as when a transfer drops mid-way). ``HEAD`` answers the
headers of ``GET``; ``Range: bytes=N-`` is honoured (206), as storage servers do, so a client can
resume. Every request is recorded, so a test can tell whether a download touched the server at all.

:class:`FakeHub` publishes files the way the Hugging Face Hub's ``resolve`` endpoint serves them
(reach it through ``HF_ENDPOINT``): a 302 to LFS storage on a second server, carrying the
commit (``X-Repo-Commit``), the LFS file's sha256 (``X-Linked-Etag``) and size (``X-Linked-Size``).
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Route:
    """What the server answers on one path."""

    body: bytes = b""
    status: int = 200
    truncate_after: int | None = None  # send only this many bytes of ``body``, then hang up
    truncate_times: int | None = None  # cut only the first N answers short (None: every one)
    corrupt_times: int = 0  # flip the last byte of the body in the first N answers
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    range: str | None = None


class LocalFileServer:
    """Serves :class:`Route` s on ``http://127.0.0.1:<port>``; start it with :func:`serve_files`."""

    def __init__(self, httpd: ThreadingHTTPServer) -> None:
        self._httpd = httpd
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.log: list[Request] = []
        self._answered: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def add(self, path: str, route: Route) -> str:
        """Answer ``path`` with ``route`` from now on; return its URL."""
        self.routes["/" + path.lstrip("/")] = route
        return self.url(path)

    def requests_for(self, path: str) -> int:
        with self._lock:
            return self.requests.count("/" + path.lstrip("/"))

    def gets_of(self, path: str) -> list[Request]:
        """The GET requests of ``path``, in order (with the ``Range`` each asked for)."""
        with self._lock:
            return [r for r in self.log if r.method == "GET" and r.path == "/" + path.lstrip("/")]

    def _record(self, request: Request) -> int:
        """Record a request; return how many GETs of its path came before it."""
        with self._lock:
            self.requests.append(request.path)
            self.log.append(request)
            before = self._answered.get(request.path, 0)
            if request.method == "GET":
                self._answered[request.path] = before + 1
            return before


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as the Hub and its storage answer

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def _answer(self, *, send_body: bool) -> None:
        files = self.server.files
        wanted = self.headers.get("Range")
        before = files._record(Request(self.command, self.path, wanted))
        route = files.routes.get(self.path)
        if route is None:
            self._error(404, route)
            return
        if route.status >= 400:
            self._error(route.status, route)
            return
        body, status = route.body, route.status
        if before < route.corrupt_times and body:
            body = body[:-1] + bytes([body[-1] ^ 0xFF])
        start = _range_start(wanted) if status == 200 else None
        if start is not None and 0 < start < len(body):
            status = 206
        self.send_response(status)
        for name, value in route.headers:
            self.send_header(name, value)
        if status == 206:
            assert start is not None
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            body = body[start:]
        if status in (200, 206):
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not send_body:
            return
        cut = route.truncate_after is not None and (
            route.truncate_times is None or before < route.truncate_times
        )
        if not cut:
            self.wfile.write(body)
            return
        self.wfile.write(body[: route.truncate_after])
        self.wfile.flush()
        self.close_connection = True

    def _error(self, status: int, route: Route | None) -> None:
        message = b"no such file" if status == 404 else b"error"
        self.send_response(status)
        for name, value in route.headers if route is not None else ():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(message)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(message)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output clean (the default writes every request to stderr)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    files: LocalFileServer


@contextmanager
def serve_files() -> Iterator[LocalFileServer]:
    """Run a :class:`LocalFileServer` in a background thread for the ``with`` block."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    files = LocalFileServer(httpd)
    httpd.files = files
    thread = threading.Thread(target=httpd.serve_forever, name="local-file-server", daemon=True)
    thread.start()
    try:
        yield files
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _range_start(header: str | None) -> int | None:
    match = re.fullmatch(r"bytes=(\d+)-", header.strip()) if header else None
    return int(match.group(1)) if match else None


@dataclass
class FakeHub:
    """Files on a fake Hugging Face Hub: ``hub`` answers ``resolve``, ``storage`` the bytes.

    Point huggingface_hub at it with ``HF_ENDPOINT=hub.base_url``.
    """

    hub: LocalFileServer
    storage: LocalFileServer
    published: dict[str, bytes] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.hub.base_url

    def publish(
        self,
        repo_id: str,
        filename: str,
        data: bytes,
        *,
        commit: str,
        branches: tuple[str, ...] = ("main",),
        declared_sha256: str | None = None,
        truncate_after: int | None = None,
        truncate_times: int | None = None,
        corrupt_times: int = 0,
    ) -> str:
        """Serve ``data`` as ``filename`` at ``commit`` (and the branches pointing at it).

        ``declared_sha256`` makes the Hub declare another hash than the bytes have (a lying or
        broken mirror). Returns the storage path whose GETs carry the bytes.
        """
        sha256 = hashlib.sha256(data).hexdigest()
        declared = declared_sha256 or sha256
        blob = f"lfs/{repo_id}/{commit}/{sha256}"
        location = self.storage.add(
            blob,
            Route(
                data,
                truncate_after=truncate_after,
                truncate_times=truncate_times,
                corrupt_times=corrupt_times,
            ),
        )
        headers = (
            ("Location", location),
            ("X-Repo-Commit", commit),
            ("X-Linked-Etag", f'"{declared}"'),
            ("X-Linked-Size", str(len(data))),
            ("ETag", '"0123456789abcdef0123456789abcdef01234567"'),  # the pointer's git sha1
        )
        for revision in (commit, *branches):
            self.hub.add(
                f"{repo_id}/resolve/{revision}/{filename}", Route(status=302, headers=headers)
            )
        self.published[commit] = data
        return blob

    def withdraw(self, repo_id: str, filename: str, revision: str) -> None:
        """Answer 404 for the file at ``revision``, as the Hub does for a missing entry."""
        self.hub.add(
            f"{repo_id}/resolve/{revision}/{filename}",
            Route(status=404, headers=(("X-Error-Code", "EntryNotFound"),)),
        )

    def resolve_requests(self, repo_id: str, filename: str) -> list[Request]:
        """Every request of the file's ``resolve`` URL, at any revision."""
        prefix = f"/{repo_id}/resolve/"
        return [r for r in self.hub.log if r.path.startswith(prefix) and r.path.endswith(filename)]


@contextmanager
def serve_hub() -> Iterator[FakeHub]:
    """A :class:`FakeHub` for the ``with`` block (two servers: the Hub and its LFS storage)."""
    with serve_files() as hub, serve_files() as storage:
        yield FakeHub(hub, storage)


def closed_port_url(path: str = "file.bin") -> str:
    """A loopback URL nothing listens on: connecting is refused at once, as when offline."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{path}"
