"""Find the image files under the library's roots, cheaply: one ``stat`` per file, no reads.

The walk is iterative (no recursion limit), in a stable order (reproducible runs), follows
symlinked folders but visits each real folder once (so symlink loops end), skips hidden files and
folders unless asked, and applies the user's exclude globs to folders (pruning whole subtrees) and
files. A folder that cannot be listed is reported as a :class:`ScanProblem`, never raised.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# Suffixes (lower case) the library indexes. HEIF family needs the optional pillow-heif.
IMAGE_SUFFIXES = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".webp",
        ".gif",
        ".bmp",
        ".dib",
        ".tif",
        ".tiff",
        ".heic",
        ".heif",
        ".hif",
        ".avif",
    }
)

HASH_BLOCK = 64 * 1024


@dataclass(frozen=True)
class ScanRules:
    """What the scanner takes.

    Attributes:
        suffixes: lower-case file suffixes to index.
        exclude_patterns: ``fnmatch`` globs matched against the absolute path (with ``/`` as
            separator) and against the bare name; a folder that matches (tested as ``path/``) is
            skipped with everything below it. Example: ``*/Screenshots/*``, ``*.gif``.
        include_patterns: when not empty, a file must match one of them (same matching).
        include_hidden: also enter folders and take files whose names start with a dot.
    """

    suffixes: frozenset[str] = IMAGE_SUFFIXES
    exclude_patterns: tuple[str, ...] = ()
    include_patterns: tuple[str, ...] = ()
    include_hidden: bool = False


@dataclass(frozen=True)
class ScannedFile:
    """One candidate file. ``path_ok`` is False when its name is not valid text (see ``path``)."""

    root_id: int
    path: str
    size: int
    mtime_ns: int
    path_ok: bool = True


@dataclass(frozen=True)
class ScanProblem:
    path: str
    reason: str


@dataclass
class ScanResult:
    files: list[ScannedFile] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)


def printable_path(path: str) -> tuple[str, bool]:
    """Return a path that can be stored as text, and whether it is the real path.

    Names in an undecodable encoding reach Python as lone surrogates; such a name is shown with
    its raw bytes escaped (``\\xe9``) and recorded as failed, because it cannot be stored or
    shown faithfully.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace"), False
    return path, True


def _matches(patterns: Iterable[str], path: str, name: str) -> bool:
    posix = path.replace(os.sep, "/")
    return any(fnmatch.fnmatch(posix, p) or fnmatch.fnmatch(name, p) for p in patterns)


def iter_files(
    root_id: int, root: str, rules: ScanRules, problems: list[ScanProblem]
) -> Iterator[ScannedFile]:
    """Yield the image files below ``root``, recording problems on the way.

    Order is stable: a folder's own files first, then its sub-folders, each in name order.
    """
    visited: set[tuple[int, int]] = set()
    stack = [os.path.abspath(root)]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            key = (st.st_dev, st.st_ino)
            if key in visited:
                continue  # reached again through a symlink: a loop or an alias
            visited.add(key)
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            problems.append(ScanProblem(folder, "folder vanished during the scan"))
            continue
        except PermissionError:
            problems.append(ScanProblem(folder, "permission denied (folder not listed)"))
            continue
        except OSError as exc:
            problems.append(ScanProblem(folder, f"cannot list folder ({exc.strerror or exc})"))
            continue
        subfolders = []
        for entry in entries:
            name = entry.name
            if name.startswith(".") and not rules.include_hidden:
                continue
            try:
                is_dir = entry.is_dir()  # follows symlinks; loops end through ``visited``
            except OSError:
                is_dir = False
            if is_dir:
                if not _matches(rules.exclude_patterns, entry.path + "/", name):
                    subfolders.append(entry.path)
                continue
            if os.path.splitext(name)[1].lower() not in rules.suffixes:
                continue
            if _matches(rules.exclude_patterns, entry.path, name):
                continue
            if rules.include_patterns and not _matches(rules.include_patterns, entry.path, name):
                continue
            shown, ok = printable_path(entry.path)
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue  # vanished between listing and stat: it is simply not there any more
            except OSError:
                # Keep it as a candidate so the decoder records why it cannot be read.
                yield ScannedFile(root_id, shown, -1, -1, ok)
                continue
            yield ScannedFile(root_id, shown, st.st_size, st.st_mtime_ns, ok)
        # Reverse so that popping visits subfolders in name order.
        stack.extend(reversed(subfolders))


def scan_roots(roots: Iterable[tuple[int, str]], rules: ScanRules) -> ScanResult:
    """Scan every ``(root_id, path)``; a root that is missing is a problem, not an error."""
    result = ScanResult()
    for root_id, root in roots:
        if not os.path.isdir(root):
            result.problems.append(ScanProblem(root, "folder not found (unplugged drive?)"))
            continue
        result.files.extend(iter_files(root_id, root, rules, result.problems))
    return result


def content_hash(path: str, size: int) -> str:
    """Cheap content identity: sha256 over the size and the first and last 64 KiB.

    Reads at most 128 KiB per file, whatever its size. Two files with equal size whose head and
    tail agree are treated as the same photo (camera files differ in both: EXIF at the head, image
    data at the tail). See docs/adr/0003-library-storage.md.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256(size.to_bytes(8, "little", signed=True))
    with open(path, "rb") as handle:
        digest.update(handle.read(HASH_BLOCK))
        if size > 2 * HASH_BLOCK:
            handle.seek(size - HASH_BLOCK)
            digest.update(handle.read(HASH_BLOCK))
        elif size > HASH_BLOCK:
            digest.update(handle.read())
    return digest.hexdigest()
