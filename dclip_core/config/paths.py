"""Every path DCLIP writes to comes from here.

By default the folders follow the platform's conventions (platformdirs). Setting ``DCLIP_HOME=DIR``
(the CLI's ``--home DIR`` sets it) puts every file the program writes under ``DIR`` instead — tests
and portable installs rely on that, so no module may build a user path on its own.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "dclip"
HOME_ENV = "DCLIP_HOME"


@dataclass(frozen=True)
class Paths:
    """The folders DCLIP uses. Create them on demand with :meth:`ensure`."""

    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def weights_dir(self) -> Path:
        """Downloaded or imported model weights (large, re-downloadable)."""
        return self.cache_dir / "weights"

    @property
    def bundles_dir(self) -> Path:
        """Exported ONNX model bundles the app can load."""
        return self.data_dir / "bundles"

    @property
    def library_dir(self) -> Path:
        """The default photo library (SQLite database and ANN indexes)."""
        return self.data_dir / "library"

    @property
    def thumbnails_dir(self) -> Path:
        return self.cache_dir / "thumbnails"

    @property
    def ultralytics_dir(self) -> Path:
        """Ultralytics' settings folder, kept inside ours so it never writes to the user's home."""
        return self.config_dir / "ultralytics"

    def ensure(self) -> Paths:
        for folder in (self.config_dir, self.data_dir, self.cache_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def get_paths() -> Paths:
    """Return the folders to use now, honouring ``DCLIP_HOME``."""
    home = os.environ.get(HOME_ENV)
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(
            config_dir=root / "config",
            data_dir=root / "data",
            cache_dir=root / "cache",
            log_dir=root / "logs",
        )
    return Paths(
        config_dir=Path(platformdirs.user_config_dir(APP_NAME)),
        data_dir=Path(platformdirs.user_data_dir(APP_NAME)),
        cache_dir=Path(platformdirs.user_cache_dir(APP_NAME)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME)),
    )


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    The bytes go to a temporary file in the same folder, are flushed to disk, and replace the
    target with one ``os.replace`` (atomic on POSIX and Windows).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))
