"""Walking through the photos being annotated, and how far their labelling is (Qt-free).

The window is opened on a list of photos (a folder's, or the current search results) given as
paths or image ids. :func:`resolve_photos` turns them into library photos, leaving out (and
saying so) the ones the library cannot annotate; :class:`PhotoList` then steps through them,
optionally only through those not yet annotated, and counts "23 of 410 annotated".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from dclip_core.library.annotations import AnnotationError, Annotations, Photo


def resolve_photos(
    annotations: Annotations, photos: Sequence[Path | str | int]
) -> tuple[list[Photo], list[str]]:
    """The library photos named by ``photos`` (paths or image ids), in order, each once.

    Returns:
        the photos, and one line per photo left out (not indexed, unreadable).
    """
    # Ids (a folder's photos, search results: thousands) in one read; paths one by one.
    ids = [item for item in photos if isinstance(item, int)]
    by_id = dict(zip(ids, annotations.photos(ids), strict=True))
    out: list[Photo] = []
    problems: list[str] = []
    seen: set[int] = set()
    for item in photos:
        if isinstance(item, int):
            found = by_id[item]
        else:
            try:
                found = annotations.photo_by_path(os.path.abspath(os.path.expanduser(str(item))))
            except AnnotationError as exc:
                found = exc
        if isinstance(found, AnnotationError):
            problems.append(str(found))
        elif found.image_id not in seen:
            seen.add(found.image_id)
            out.append(found)
    return out, problems


def folder_photos(annotations: Annotations, folders: Sequence[Path | str]) -> list[int]:
    """Image ids of the readable photos under ``folders`` (subfolders too), by path: what to
    open the window on for "annotate this folder". No folders: every photo of the library."""
    store = annotations.store
    ids = store.filtered_ids([str(f) for f in folders], None, None)
    records = store.images(ids)
    return sorted(ids, key=lambda i: records[i].path)


def annotated_ids(annotations: Annotations, photos: Sequence[Photo]) -> set[int]:
    """Which of ``photos`` already have a caption or an accepted box."""
    if not photos:
        return set()
    folders = {os.path.dirname(p.path) for p in photos}
    try:
        common: str | None = os.path.commonpath(sorted(folders))
    except ValueError:  # photos on different drives
        common = None
    wanted = {p.image_id for p in photos}
    return {a.image_id for a in annotations.annotated(common) if a.image_id in wanted}


class PhotoList:
    """The photos of an annotation session, the current one, and which are annotated.

    Args:
        image_ids: the photos in the order to walk them.
        annotated: those of them annotated already.
        start: the index of the first photo shown.
    """

    def __init__(self, image_ids: Sequence[int], annotated: Iterable[int], start: int = 0) -> None:
        if not image_ids:
            raise ValueError("no photos to annotate")
        self.ids = list(image_ids)
        self.annotated = set(annotated) & set(self.ids)
        self.index = max(0, min(start, len(self.ids) - 1))
        self.only_unannotated = False

    @property
    def current(self) -> int:
        return self.ids[self.index]

    def __len__(self) -> int:
        return len(self.ids)

    def set_annotated(self, image_id: int, annotated: bool) -> None:
        if annotated:
            self.annotated.add(image_id)
        else:
            self.annotated.discard(image_id)

    def _wanted(self, index: int) -> bool:
        return not self.only_unannotated or self.ids[index] not in self.annotated

    def step(self, delta: int) -> bool:
        """Go to the next (``+1``) or previous (``-1``) photo the filter shows; False at the end."""
        index = self.index + delta
        while 0 <= index < len(self.ids):
            if self._wanted(index):
                self.index = index
                return True
            index += delta
        return False

    def go_to(self, index: int) -> None:
        self.index = max(0, min(index, len(self.ids) - 1))

    def next_unannotated(self) -> bool:
        """Go to the next photo not yet annotated, wrapping around; False when there is none."""
        count = len(self.ids)
        for offset in range(1, count + 1):
            index = (self.index + offset) % count
            if self.ids[index] not in self.annotated:
                self.index = index
                return True
        return False

    def has_step(self, delta: int) -> bool:
        index = self.index + delta
        while 0 <= index < len(self.ids):
            if self._wanted(index):
                return True
            index += delta
        return False

    def neighbours(self) -> list[int]:
        """The photos a step away, to decode ahead of time."""
        return [self.ids[i] for i in (self.index + 1, self.index - 1) if 0 <= i < len(self.ids)]

    def progress_text(self) -> str:
        """``"23 of 410 annotated"``."""
        return f"{len(self.annotated)} of {len(self.ids)} annotated"

    def position_text(self) -> str:
        """``"Photo 5 of 410"``, with how many are left when only unannotated ones are walked."""
        text = f"Photo {self.index + 1} of {len(self.ids)}"
        if self.only_unannotated:
            left = len(self.ids) - len(self.annotated)
            text += f" · {left} not yet annotated"
        return text
