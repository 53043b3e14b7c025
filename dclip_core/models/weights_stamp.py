"""The stamp beside each cached weights file: what was verified, and where it came from.

``.<file>.verified`` is a small JSON record: the sha256 that was checked, the file's size and mtime
at that moment (so "still verified?" costs a ``stat``), and for a Hub file the repository and the
commit it was downloaded at. Where the registry pins no sha256 (a Hub file whose hash DCLIP could
not read beforehand), this record *is* the pin: later checks compare against its sha256 and later
downloads ask for its commit. That is why a damaged file only loses the size and mtime of its
record (:func:`invalidate_stamp`), never the hash and commit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from dclip_core.config.paths import atomic_write_text
from dclip_core.errors import WeightsError
from dclip_core.models.registry import WeightsSource

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class StampRecord:
    """What a stamp says. ``size``/``mtime_ns`` are None once the file no longer matches."""

    sha256: str
    size: int | None
    mtime_ns: int | None
    revision: str | None = None
    repo_id: str | None = None


def stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified")


def read_stamp(path: Path) -> StampRecord | None:
    """The record beside ``path``, or None when there is none (or it is unreadable)."""
    try:
        raw = json.loads(stamp_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or not _SHA256.fullmatch(str(raw.get("sha256", ""))):
        return None
    return StampRecord(
        sha256=str(raw["sha256"]),
        size=raw.get("size") if isinstance(raw.get("size"), int) else None,
        mtime_ns=raw.get("mtime_ns") if isinstance(raw.get("mtime_ns"), int) else None,
        revision=raw.get("revision") if isinstance(raw.get("revision"), str) else None,
        repo_id=raw.get("repo_id") if isinstance(raw.get("repo_id"), str) else None,
    )


def expected_sha256(source: WeightsSource, record: StampRecord | None) -> str | None:
    """The sha256 the source's file must have: pinned by the registry, else recorded.

    A record counts only if it is for the same repository and, where the registry pins a
    revision, was made at that revision (a newer pin asks for the new file).
    """
    if source.sha256 is not None:
        return source.sha256
    if record is None or source.hub is None:
        return None
    if record.repo_id not in (None, source.hub.repo_id):
        return None
    if source.hub.revision is not None and record.revision not in (None, source.hub.revision):
        return None
    return record.sha256


def stamp_matches(path: Path, source: WeightsSource) -> bool:
    """True when ``path`` is the file its stamp verified, and that is the source's file."""
    record = read_stamp(path)
    if record is None or expected_sha256(source, record) != record.sha256:
        return False
    try:
        st = path.stat()
    except OSError:
        return False
    return record.size == st.st_size and record.mtime_ns == st.st_mtime_ns


def write_stamp(path: Path, sha256: str, *, revision: str | None, source: WeightsSource) -> None:
    """Record that ``path`` was verified to have ``sha256`` (and, for a Hub file, its commit)."""
    try:
        st = path.stat()
        stamp: dict[str, object] = {"sha256": sha256, "size": st.st_size}
        stamp["mtime_ns"] = st.st_mtime_ns
        if source.hub is not None:
            stamp.update(repo_id=source.hub.repo_id, revision=revision)
        atomic_write_text(stamp_path(path), json.dumps(stamp))
    except OSError as exc:
        raise WeightsError(
            f"cannot record that {path} was verified ({exc.strerror or exc}); check the "
            "permissions of that folder"
        ) from exc


def invalidate_stamp(path: Path) -> None:
    """The file no longer matches: keep the record's hash and commit, drop what vouches for it."""
    record = read_stamp(path)
    if record is None:
        stamp_path(path).unlink(missing_ok=True)
        return
    kept = {"sha256": record.sha256, "revision": record.revision, "repo_id": record.repo_id}
    try:
        atomic_write_text(stamp_path(path), json.dumps(kept))
    except OSError as exc:
        raise WeightsError(
            f"cannot update {stamp_path(path)} ({exc.strerror or exc}); check the permissions "
            "of that folder"
        ) from exc
