"""The data check: what a fine-tune would train on, said before anything trains (torch-free).

1. Read the sources (:func:`~dclip_core.finetune.data.read_finetune_sources`); every photo a
   reader left out is counted with its reason, never silently dropped.
2. Look for captions DCLIP cannot see: a photo without caption whose name has a sidecar file of
   another extension (``photo.caption``, ``photo.md``…) is the caption-extension mismatch that
   silently empties LoRA trainers' datasets; it is named with the fix.
3. Open every captioned photo (decode + sha256): unreadable ones are listed and left out; byte-
   identical photos are grouped so the split keeps each group on one side.
4. Captions: empty caption files, captions shared by several photos, captions longer than the
   text model's context (cut at training).
5. Split train / held-out (:func:`split_held_out`), seeded, duplicates kept together.
6. Warn when the data is too small to help; refuse (:class:`~dclip_core.errors.DatasetError`, one
   line) when nothing is trainable.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dclip_core.errors import DatasetError, ImageDecodeError
from dclip_core.finetune.data import read_finetune_sources
from dclip_core.runtime.images import load_image
from dclip_core.runtime.tokenizer import ClipTokenizer
from dclip_core.train.datasets import IMAGE_SUFFIXES, CaptionedImage, DatasetSource

# Fewer captioned photos than this cannot be split into something to train on and something to
# measure on (two photos each side at least).
MIN_PHOTOS = 4
# Below these, say plainly that the result will be small or noisy.
FEW_TRAIN_PHOTOS = 100
FEW_HELD_OUT_PHOTOS = 30
SAMPLE_PAIRS = 3
LISTED = 20  # items per list in events and printed output (the JSON file keeps all)


class DataRefusedError(DatasetError):
    """Nothing trainable: the message says why, ``check`` what was found (shown by the wizard)."""

    def __init__(self, message: str, check: DataCheck) -> None:
        super().__init__(message)
        self.check = check


@dataclass
class DataCheck:
    """What the check found. Paths are strings; lists are complete (events show the first few)."""

    sources: list[str]
    photos: int = 0
    captioned: int = 0
    trainable: int = 0
    captions: int = 0
    without_caption: list[str] = field(default_factory=list)
    empty_caption_files: list[str] = field(default_factory=list)
    caption_extensions: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    other_skips: dict[str, int] = field(default_factory=dict)
    shared_captions: list[tuple[str, int]] = field(default_factory=list)
    long_captions: int = 0
    context_length: int = 77
    duplicate_photos: int = 0
    duplicates_across_split: int = 0
    train: int = 0
    held_out: int = 0
    samples: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self, limit: int | None = None) -> dict[str, Any]:
        def cut(items: Sequence[Any]) -> list[Any]:
            return [list(i) if isinstance(i, tuple) else i for i in items[:limit]]

        return {
            "sources": self.sources,
            "photos": self.photos,
            "captioned": self.captioned,
            "trainable": self.trainable,
            "captions": self.captions,
            "without_caption": {
                "count": len(self.without_caption),
                "items": cut(self.without_caption),
            },
            "empty_caption_files": {
                "count": len(self.empty_caption_files),
                "items": cut(self.empty_caption_files),
            },
            "caption_extensions": self.caption_extensions,
            "missing": {"count": len(self.missing), "items": cut(self.missing)},
            "unreadable": {"count": len(self.unreadable), "items": cut(self.unreadable)},
            "other_skips": self.other_skips,
            "shared_captions": {
                "count": len(self.shared_captions),
                "items": cut(self.shared_captions),
            },
            "long_captions": self.long_captions,
            "context_length": self.context_length,
            "duplicate_photos": self.duplicate_photos,
            "duplicates_across_split": self.duplicates_across_split,
            "train": self.train,
            "held_out": self.held_out,
            "samples": cut(self.samples),
            "warnings": self.warnings,
        }

    def event_fields(self, refused: str | None = None) -> dict[str, Any]:
        """The ``datacheck`` event's fields (lists cut to :data:`LISTED`), with ``refused``: the
        refusal's line, or None when the data is trainable."""
        return {"lines": self.lines(), "refused": refused, **self.to_json(limit=LISTED)}

    def lines(self) -> list[str]:
        """The check for people, one fact per line."""
        out = [
            f"photos: {self.photos} found, {self.captioned} with a caption, "
            f"{self.trainable} usable ({self.captions} captions)",
            f"split: {self.train} to train on, {self.held_out} held out to measure on",
        ]
        facts = (
            (len(self.without_caption), "without caption (left out)", self.without_caption),
            (len(self.empty_caption_files), "with an empty caption file", self.empty_caption_files),
            (len(self.missing), "captions naming a missing photo", self.missing),
            (len(self.unreadable), "unreadable photos (left out)", [p for p, _ in self.unreadable]),
        )
        for count, what, items in facts:
            if count:
                shown = ", ".join(Path(i).name for i in items[:3])
                out.append(f"{count} {what}: {shown}{', …' if count > 3 else ''}")
        for reason, count in sorted(self.other_skips.items()):
            out.append(f"{count} left out by the reader: {reason}")
        if self.shared_captions:
            text, n = self.shared_captions[0]
            out.append(
                f"{len(self.shared_captions)} captions shared by several photos "
                f"(e.g. {text!r} on {n})"
            )
        if self.long_captions:
            out.append(
                f"{self.long_captions} captions longer than the model's {self.context_length} "
                "tokens (cut at training)"
            )
        if self.duplicate_photos:
            out.append(
                f"{self.duplicate_photos} photos have a byte-identical twin (kept on one side of "
                f"the split; across it: {self.duplicates_across_split})"
            )
        for path, caption in self.samples:
            out.append(f"sample: {Path(path).name}: {caption!r}")
        out.extend(f"warning: {w}" for w in self.warnings)
        return out


@dataclass(frozen=True)
class Split:
    """Train and held-out records (held-out photos are never trained on)."""

    train: list[CaptionedImage]
    held_out: list[CaptionedImage]
    seed: int
    fraction: float


def _sidecar_extensions(photo: Path) -> list[str]:
    """Extensions of files beside ``photo`` with its stem that could be captions (not .txt)."""
    try:
        siblings = list(photo.parent.glob(f"{photo.stem}.*"))
    except OSError:
        return []
    return sorted(
        s.suffix.lower()
        for s in siblings
        if s != photo and s.suffix.lower() not in IMAGE_SUFFIXES and s.suffix.lower() != ".txt"
    )


def _open_photo(path: Path) -> tuple[str | None, str]:
    """(sha256, "") of a decodable photo, or (None, reason)."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        load_image(path, min_side=32)
    except (OSError, ImageDecodeError, ValueError) as exc:
        return None, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return digest, ""


def split_held_out(
    records: Sequence[CaptionedImage], hashes: Sequence[str], fraction: float, seed: int
) -> Split:
    """Hold ``fraction`` of the photos out (at least 2), seeded; byte-identical photos are one
    group and go to the same side, so the held-out score never measures memory."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, digest in enumerate(hashes):
        groups[digest].append(index)
    order = list(groups.values())
    permutation = np.random.default_rng(seed).permutation(len(order))
    wanted = max(2, round(len(records) * fraction))
    held: list[int] = []
    for position in permutation:
        if len(held) >= wanted:
            break
        held.extend(order[position])
    held_set = set(held)
    return Split(
        train=[r for i, r in enumerate(records) if i not in held_set],
        held_out=[records[i] for i in sorted(held_set)],
        seed=seed,
        fraction=fraction,
    )


def _refusal(check: DataCheck, where: str) -> str | None:
    """The one-line reason nothing can be trained, or None."""
    if check.photos == 0 and not check.missing:
        suffixes = " ".join(sorted(IMAGE_SUFFIXES))
        return f"nothing to train on in {where}: no photos found (looked for {suffixes})"
    if check.captioned == 0:
        hint = (
            "put each caption in photo.txt beside photo.jpg, or in captions.csv with file and "
            "caption columns"
        )
        if check.caption_extensions:
            ext, count = max(check.caption_extensions.items(), key=lambda kv: kv[1])
            hint = (
                f"{count} have a {ext} file beside them, but captions are read from .txt: "
                "rename them"
            )
        return (
            f"nothing to train on in {where}: none of its {check.photos} photos has a caption "
            f"({hint})"
        )
    if check.trainable == 0:
        first = check.unreadable[0] if check.unreadable else ("?", "?")
        return (
            f"nothing to train on in {where}: all {check.captioned} captioned photos are "
            f"unreadable (first: {first[0]}: {first[1]})"
        )
    if check.trainable < MIN_PHOTOS:
        return (
            f"only {check.trainable} usable captioned photos in {where}; fine-tuning needs at "
            f"least {MIN_PHOTOS} (2 to train on, 2 held out to measure the result)"
        )
    return None


def _warnings(check: DataCheck) -> list[str]:
    out = []
    if check.caption_extensions:
        listed = ", ".join(f"{n} {e}" for e, n in sorted(check.caption_extensions.items()))
        out.append(
            f"photos without caption have sidecar files DCLIP does not read ({listed}); "
            "captions are read from .txt files or captions.csv: rename them to .txt"
        )
    if check.without_caption:
        out.append(
            f"{len(check.without_caption)} of {check.photos} photos have no caption and are left "
            "out (listed in datacheck.json)"
        )
    if check.unreadable:
        out.append(f"{len(check.unreadable)} photos cannot be opened and are left out")
    if check.train < FEW_TRAIN_PHOTOS:
        out.append(
            f"only {check.train} photos to train on: fine-tuning on fewer than "
            f"{FEW_TRAIN_PHOTOS} rarely helps"
        )
    if check.held_out < FEW_HELD_OUT_PHOTOS:
        out.append(
            f"only {check.held_out} held-out photos: differences of a few points will be noise"
        )
    return out


def check_data(
    sources: Sequence[DatasetSource],
    *,
    context_length: int,
    held_out: float = 0.2,
    seed: int = 0,
) -> tuple[DataCheck, Split]:
    """Check the data and split it (steps in the module docstring).

    Raises:
        DatasetError: a source that cannot be read, or nothing trainable (one line saying why).
    """
    labels = [f"{s.format}={s.path}" for s in sources]
    where = ", ".join(labels)
    records, report = read_finetune_sources(sources)
    check = DataCheck(sources=labels, context_length=context_length)
    other: Counter[str] = Counter()
    for skipped in report.skipped:
        if skipped.reason == "no caption":
            check.without_caption.append(skipped.item)
        elif skipped.reason == "missing image":
            check.missing.append(skipped.item)
        else:
            other[skipped.reason] += 1
    check.other_skips = dict(other)
    extensions: Counter[str] = Counter()
    for item in check.without_caption:
        photo = Path(item)
        if photo.with_suffix(".txt").is_file():
            check.empty_caption_files.append(item)
        extensions.update(set(_sidecar_extensions(photo)))
    check.caption_extensions = dict(extensions)
    check.captioned = len(records)
    check.photos = check.captioned + len(check.without_caption)
    usable: list[CaptionedImage] = []
    hashes: list[str] = []
    for record in records:
        digest, reason = _open_photo(record.path)
        if digest is None:
            check.unreadable.append((str(record.path), reason))
        else:
            usable.append(record)
            hashes.append(digest)
    check.trainable = len(usable)
    refusal = _refusal(check, where)
    if refusal is not None:
        raise DataRefusedError(refusal, check)
    _check_captions(check, usable)
    counts = Counter(hashes)
    check.duplicate_photos = sum(n for n in counts.values() if n > 1)
    split = split_held_out(usable, hashes, held_out, seed)
    by_path = dict(zip((str(r.path) for r in usable), hashes, strict=True))
    train_hashes = {by_path[str(r.path)] for r in split.train}
    check.duplicates_across_split = sum(
        1 for r in split.held_out if by_path[str(r.path)] in train_hashes
    )
    check.train, check.held_out = len(split.train), len(split.held_out)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(split.train), size=min(SAMPLE_PAIRS, len(split.train)), replace=False)
    check.samples = [(str(split.train[i].path), split.train[i].captions[0]) for i in sorted(picks)]
    check.warnings = _warnings(check)
    return check, split


def _check_captions(check: DataCheck, records: Sequence[CaptionedImage]) -> None:
    tokenizer = ClipTokenizer(ClipTokenizer.default_vocab_path(), check.context_length)
    photos_of: dict[str, set[str]] = defaultdict(set)
    for record in records:
        check.captions += len(record.captions)
        for caption in record.captions:
            photos_of[caption.strip().lower()].add(str(record.path))
            if len(tokenizer.encode(caption)) > check.context_length - 2:
                check.long_captions += 1
    shared = [(text, len(paths)) for text, paths in photos_of.items() if len(paths) > 1]
    check.shared_captions = sorted(shared, key=lambda item: (-item[1], item[0]))
