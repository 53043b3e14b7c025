"""The annotations of the photo being edited, kept in step with the database (Qt-free).

:class:`PhotoAnnotations` is loaded once when a photo is shown. After that every edit, undo and
redo hands it the core's :class:`~dclip_core.library.annotations.Change` (every row before and
after), and :meth:`PhotoAnnotations.apply` updates just those rows and says which ones it touched,
so the window redraws one box instead of two hundred. Rejected suggestions are not shown; they
leave the state as a deleted box would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dclip_core.library.annotations import (
    Annotations,
    Box,
    Caption,
    Change,
    Label,
    Photo,
    SpanLink,
)

SHOWN_STATUSES = ("accepted", "suggested")


@dataclass
class Touched:
    """What an applied change touched: the views redraw only these."""

    boxes: set[int] = field(default_factory=set)  # box ids added, changed or removed
    captions: bool = False
    links: bool = False
    labels: bool = False

    @property
    def anything(self) -> bool:
        return bool(self.boxes) or self.captions or self.links or self.labels


class PhotoAnnotations:
    """One photo's shown boxes (accepted and suggested), captions in order, and span links."""

    def __init__(
        self,
        photo: Photo,
        boxes: list[Box],
        captions: list[Caption],
        links: list[SpanLink],
    ) -> None:
        self.photo = photo
        self.boxes: dict[int, Box] = {b.id: b for b in boxes if b.status in SHOWN_STATUSES}
        self.captions: list[Caption] = sorted(captions, key=lambda c: (c.position, c.id))
        self.links: dict[int, SpanLink] = {k.id: k for k in links}

    @classmethod
    def load(cls, annotations: Annotations, image_id: int) -> PhotoAnnotations:
        """Read the photo's annotations (raises AnnotationError when it cannot be annotated)."""
        photo = annotations.photo(image_id)
        digest = photo.content_hash
        return cls(
            photo,
            annotations.boxes_of(digest, SHOWN_STATUSES),
            annotations.captions_of(digest),
            annotations.links_of(digest),
        )

    # --- reads -------------------------------------------------------------------------------

    @property
    def annotated(self) -> bool:
        """What the library counts as annotated: a caption or an accepted box."""
        return bool(self.captions) or any(b.status == "accepted" for b in self.boxes.values())

    def suggestions(self) -> list[Box]:
        return [b for b in self.boxes.values() if b.status == "suggested"]

    def caption(self, caption_id: int) -> Caption | None:
        return next((c for c in self.captions if c.id == caption_id), None)

    def links_of_caption(self, caption_id: int) -> list[SpanLink]:
        return sorted(
            (k for k in self.links.values() if k.caption_id == caption_id),
            key=lambda k: (k.start, k.end, k.id),
        )

    def links_of_box(self, box_id: int) -> list[SpanLink]:
        return [k for k in self.links.values() if k.box_id == box_id]

    # --- keeping in step -----------------------------------------------------------------------

    def apply(self, change: Change, *, undone: bool = False) -> Touched:
        """Take ``change`` (or, ``undone``, its reversal) into the state; say what it touched.

        Rows of other photos are skipped (a label rename touches boxes everywhere).
        """
        touched = Touched()
        rows = reversed(change.rows) if undone else iter(change.rows)
        for row in rows:
            old, new = (row.after, row.before) if undone else (row.before, row.after)
            some = new if new is not None else old
            if isinstance(some, Label):
                touched.labels = True
            elif isinstance(some, Box):
                self._apply_box(some.id, new if isinstance(new, Box) else None, touched)
            elif isinstance(some, Caption):
                self._apply_caption(some, new if isinstance(new, Caption) else None, touched)
            elif isinstance(some, SpanLink):
                self._apply_link(some, new if isinstance(new, SpanLink) else None, touched)
        if touched.captions:
            self.captions.sort(key=lambda c: (c.position, c.id))
        return touched

    def _apply_box(self, box_id: int, new: Box | None, touched: Touched) -> None:
        if new is not None and new.photo != self.photo.content_hash:
            return
        if new is None or new.status not in SHOWN_STATUSES:
            if self.boxes.pop(box_id, None) is not None:
                touched.boxes.add(box_id)
        else:
            self.boxes[box_id] = new
            touched.boxes.add(box_id)

    def _apply_caption(self, some: Caption, new: Caption | None, touched: Touched) -> None:
        if some.photo != self.photo.content_hash:
            return
        self.captions = [c for c in self.captions if c.id != some.id]
        if new is not None:
            self.captions.append(new)
        touched.captions = True

    def _apply_link(self, some: SpanLink, new: SpanLink | None, touched: Touched) -> None:
        ours = some.id in self.links or any(c.id == some.caption_id for c in self.captions)
        if not ours:
            return
        if new is None:
            self.links.pop(some.id, None)
        else:
            self.links[some.id] = new
        touched.links = True
