"""Fixtures shared by every test: an isolated DCLIP_HOME, and no network."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

# Qt must never try to reach a display in tests; set before anything imports PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def dclip_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own DCLIP_HOME, so no test reads or writes the user's real files."""
    home = tmp_path_factory.mktemp("dclip-home")
    monkeypatch.setenv("DCLIP_HOME", str(home))
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(home / "config" / "ultralytics"))
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    return home


class NetworkBlockedError(OSError):
    """A test tried to leave the machine."""


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse connections to anything but loopback: tests must never depend on the network."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (
            host.startswith("127.") or host in ("localhost", "::1") or self.family == socket.AF_UNIX
        ):
            raise NetworkBlockedError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``test-tiny`` model bundle folder with int8 and fp16 variants, exported once per session.

    Shared by every test that needs a bundle: treat it as read-only, copy it (``shutil.copytree``)
    before changing anything in it.
    """
    from dclip_core.export import export_model

    root = tmp_path_factory.mktemp("tiny-bundle")
    # Session fixtures run before the per-test DCLIP_HOME exists; keep the export's own cache
    # writes (bundle verification) out of the user's real folders too.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DCLIP_HOME", str(root / "home"))
        manifest = export_model("test-tiny", root / "test-tiny", int8=True, fp16=True)
    return manifest.path


@pytest.fixture(scope="session")
def shapes_folder_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 captioned 64-px shapes scenes with ``scenes.json``, made once (copy before changing)."""
    from dclip_core.shapes.scenes import write_shapes_dataset

    folder = tmp_path_factory.mktemp("shapes-master")
    write_shapes_dataset(folder, 24, seed=3, image_size=64)
    return folder


@pytest.fixture
def shapes_folder(shapes_folder_master: Path, tmp_path: Path) -> Path:
    """A fresh copy of :func:`shapes_folder_master` in ``tmp_path/captioned`` (change it freely)."""
    return Path(shutil.copytree(shapes_folder_master, tmp_path / "captioned"))
