"""The scanner finds image files cheaply and survives hostile folder trees."""

from __future__ import annotations

import os
from pathlib import Path

from dclip_core.library.scanner import ScanRules, content_hash, scan_roots


def _touch(path: Path, content: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _names(root: Path, rules: ScanRules) -> list[str]:
    result = scan_roots([(1, str(root))], rules)
    return [os.path.relpath(f.path, root) for f in result.files]


def test_finds_images_by_suffix_case_insensitively_in_stable_order(tmp_path: Path) -> None:
    for name in ("b/IMG_2.JPG", "a/photo.jpeg", "a/scan.TIFF", "a/notes.txt", "c.heic", "d.Png"):
        _touch(tmp_path / name)
    # A folder's own files first, then its sub-folders, each in name order.
    assert _names(tmp_path, ScanRules()) == [
        "c.heic",
        "d.Png",
        "a/photo.jpeg",
        "a/scan.TIFF",
        "b/IMG_2.JPG",
    ]


def test_hidden_folders_and_files_skipped_unless_asked(tmp_path: Path) -> None:
    _touch(tmp_path / ".thumbnails" / "t.jpg")
    _touch(tmp_path / ".hidden.jpg")
    _touch(tmp_path / "seen.jpg")
    assert _names(tmp_path, ScanRules()) == ["seen.jpg"]
    assert _names(tmp_path, ScanRules(include_hidden=True)) == [
        ".hidden.jpg",
        "seen.jpg",
        ".thumbnails/t.jpg",
    ]


def test_exclude_and_include_globs(tmp_path: Path) -> None:
    _touch(tmp_path / "Screenshots" / "s.png")
    _touch(tmp_path / "trip" / "Screenshots" / "s2.png")
    _touch(tmp_path / "trip" / "beach.jpg")
    _touch(tmp_path / "trip" / "anim.gif")
    rules = ScanRules(exclude_patterns=("*/Screenshots/*", "*.gif"))
    assert _names(tmp_path, rules) == ["trip/beach.jpg"]
    assert _names(tmp_path, ScanRules(include_patterns=("*.gif",))) == ["trip/anim.gif"]


def test_symlink_loops_end_and_missing_roots_are_problems(tmp_path: Path) -> None:
    _touch(tmp_path / "a" / "x.jpg")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    os.symlink(tmp_path / "a", tmp_path / "alias")
    result = scan_roots([(1, str(tmp_path)), (2, str(tmp_path / "unplugged"))], ScanRules())
    assert [os.path.relpath(f.path, tmp_path) for f in result.files] == ["a/x.jpg"]
    assert [(p.path, "not found" in p.reason) for p in result.problems] == [
        (str(tmp_path / "unplugged"), True)
    ]


def test_undecodable_names_are_flagged(tmp_path: Path) -> None:
    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9.jpg"
    Path(os.fsdecode(raw)).write_bytes(b"x")
    (file,) = scan_roots([(1, str(tmp_path))], ScanRules()).files
    assert not file.path_ok
    assert file.path.endswith("caf\\xe9.jpg")
    file.path.encode("utf-8")  # storable


def test_content_hash_reads_head_and_tail_only(tmp_path: Path) -> None:
    big = bytearray(os.urandom(1_000_000))
    a = _touch(tmp_path / "a.jpg", bytes(big))
    same = _touch(tmp_path / "copy.jpg", bytes(big))
    big[500_000] ^= 1  # the middle is not read
    middle = _touch(tmp_path / "middle.jpg", bytes(big))
    big[-1] ^= 1
    tail = _touch(tmp_path / "tail.jpg", bytes(big))
    small = _touch(tmp_path / "small.jpg", b"abc")
    hashes = {
        p.name: content_hash(str(p), p.stat().st_size) for p in (a, same, middle, tail, small)
    }
    assert hashes["a.jpg"] == hashes["copy.jpg"] == hashes["middle.jpg"]
    assert len({hashes["a.jpg"], hashes["tail.jpg"], hashes["small.jpg"]}) == 3
