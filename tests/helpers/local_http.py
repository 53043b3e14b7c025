"""A file server on 127.0.0.1 that can misbehave on purpose, for testing downloads offline.

Each route answers a path with a body, an HTTP error, or a body cut short after a given number of
bytes (the ``Content-Length`` header still announces the whole body, and the connection closes, as
when a transfer drops mid-way). Every request path is recorded, so a test can tell whether a
download touched the server at all.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Route:
    """What the server answers on one path."""

    body: bytes = b""
    status: int = 200
    truncate_after: int | None = None  # send only this many bytes of ``body``, then hang up


class LocalFileServer:
    """Serves :class:`Route` s on ``http://127.0.0.1:<port>``; start it with :func:`serve_files`."""

    def __init__(self, httpd: ThreadingHTTPServer) -> None:
        self._httpd = httpd
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
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

    def _record(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        files = self.server.files
        files._record(self.path)
        route = files.routes.get(self.path)
        if route is None:
            self.send_error(404, "no such file")
            return
        if route.status != 200:
            self.send_error(route.status)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if route.truncate_after is None:
            self.wfile.write(route.body)
            return
        self.wfile.write(route.body[: route.truncate_after])
        self.wfile.flush()
        self.close_connection = True

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


def closed_port_url(path: str = "file.bin") -> str:
    """A loopback URL nothing listens on: connecting is refused at once, as when offline."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{path}"
