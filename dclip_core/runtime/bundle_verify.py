"""Verify a bundle's files against their sha256, remembering what was verified.

Hashing a ViT-B bundle (~600 MB) takes seconds, which every search would pay. So a successful check
is remembered per file as ``(size, mtime_ns, sha256)`` in the user cache
(``<cache>/verified-bundles/<key>.json``, keyed by the bundle's absolute path), not in the bundle
folder: bundles may live on read-only media, and the folder stays exactly what the exporter wrote.
A file whose size or modification time changed is hashed again, and a rewritten ``bundle.json``
forgets everything remembered for the old one. This catches truncated, replaced and corrupted
files; it does not defend against someone who can write both the bundle and the user's cache and
restores the old mtime on purpose.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from dclip_core.config.paths import atomic_write_text, get_paths
from dclip_core.errors import BundleError

log = logging.getLogger(__name__)

_HASH_CHUNK = 4 * 1024 * 1024
_VERIFY_CACHE_VERSION = 1


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so large models do not fill memory."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_cache_file(folder: Path) -> Path:
    key = hashlib.sha256(str(folder).encode("utf-8")).hexdigest()[:24]
    return get_paths().cache_dir / "verified-bundles" / f"{key}.json"


def _read_verify_cache(cache_file: Path, manifest_digest: str) -> dict[str, Any]:
    try:
        data = json.loads(cache_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        # The cache only saves time: an unreadable one means hashing again, and is rewritten.
        log.warning("ignoring unreadable bundle verification cache %s: %s", cache_file, exc)
        return {}
    if (
        not isinstance(data, dict)
        or data.get("version") != _VERIFY_CACHE_VERSION
        or data.get("manifest_sha256") != manifest_digest
        or not isinstance(data.get("files"), dict)
    ):
        return {}
    files: dict[str, Any] = data["files"]
    return files


def verify_files(folder: Path, files: dict[str, str], manifest_digest: str) -> None:
    """Check that every file of a bundle exists and has the sha256 its manifest lists.

    Args:
        folder: the bundle folder.
        files: sha256 by relative path, from ``bundle.json``.
        manifest_digest: sha256 of ``bundle.json`` itself; a rewritten manifest forgets what was
            remembered for the old one.

    Raises:
        BundleError: a file is missing, unreadable, or its content differs (names the file).
    """
    cache_file = _verify_cache_file(folder)
    cached = _read_verify_cache(cache_file, manifest_digest)
    verified: dict[str, dict[str, Any]] = {}
    changed = False
    for name, expected in sorted(files.items()):
        path = folder / name
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise BundleError(
                f"bundle {folder} is incomplete: {name} is missing; re-export the bundle"
            ) from None
        except OSError as exc:
            raise BundleError(f"cannot read {path} ({exc})") from exc
        entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": expected}
        if cached.get(name) == entry:
            verified[name] = entry
            continue
        try:
            actual = sha256_file(path)
        except OSError as exc:
            raise BundleError(f"cannot read {path} ({exc})") from exc
        if actual != expected:
            raise BundleError(
                f"{path} does not match the sha256 in bundle.json (the file was modified, "
                "truncated or replaced); re-export the bundle or restore the file"
            )
        verified[name] = entry
        changed = True
    if changed or set(cached) != set(verified):
        payload = {
            "version": _VERIFY_CACHE_VERSION,
            "bundle": str(folder),
            "manifest_sha256": manifest_digest,
            "files": verified,
        }
        try:
            atomic_write_text(cache_file, json.dumps(payload, indent=1) + "\n")
        except OSError as exc:
            # Verification succeeded; failing to remember it costs time on the next load only.
            log.warning("could not save bundle verification cache %s: %s", cache_file, exc)
