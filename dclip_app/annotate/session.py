"""What an annotation session does, without its widgets: the photos, the current photo's
annotations, and every edit as one core call that is written at once and can be undone.

1. :class:`AnnotationSession` is made from the library photos to walk (see
   :func:`~dclip_app.annotate.navigation.resolve_photos`) and shows the start one.
2. An edit method (``add_box``, ``move_box``, ``add_caption``, …) runs the core operation through
   the :class:`~dclip_app.annotate.commands.AnnotationEditor`: one transaction, one undo step.
3. The returned ``Change`` (or its undo or redo) updates
   :class:`~dclip_app.annotate.photo_state.PhotoAnnotations`, which says what it touched;
   :attr:`AnnotationSession.changed` hands that to the views, which redraw only those rows.
4. A refused edit (a box outside the photo, an empty caption, another writer's changes) emits
   :attr:`AnnotationSession.message` with the core's own words; nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Signal

from dclip_app.annotate.commands import AnnotationEditor
from dclip_app.annotate.geometry import Rect
from dclip_app.annotate.navigation import PhotoList
from dclip_app.annotate.photo_state import PhotoAnnotations
from dclip_core.library.annotations import (
    AnnotationError,
    Annotations,
    Box,
    Change,
    Photo,
)

DEFAULT_LABEL = "object"


class AnnotationSession(QObject):
    """The photos of one annotation window and the edits made on them.

    Signals:
        photo_changed(int): another photo (image id) is current; its state is loaded.
        changed(Touched): the current photo's annotations changed (edit, undo, redo).
        message(str): one line for the user (a refused edit, say).
    """

    photo_changed = Signal(int)
    changed = Signal(object)
    message = Signal(str)

    def __init__(
        self,
        annotations: Annotations,
        photos: Sequence[Photo],
        annotated: set[int],
        start: int = 0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.annotations = annotations
        self.photos = {p.image_id: p for p in photos}
        self.list = PhotoList([p.image_id for p in photos], annotated, start)
        self.editor = AnnotationEditor(annotations, self)
        self.editor.applied.connect(self._applied)
        self.editor.failed.connect(self.message)
        self.editor.conflicted.connect(lambda image_id: self.load())
        self.state: PhotoAnnotations = PhotoAnnotations(photos[self.list.index], [], [], [])

    @property
    def photo(self) -> Photo:
        return self.state.photo

    def labels(self) -> list[str]:
        return [label.name for label in self.annotations.labels()]

    # --- photos ------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the current photo's annotations from the database and announce it."""
        image_id = self.list.current
        try:
            self.state = PhotoAnnotations.load(self.annotations, image_id)
        except AnnotationError as exc:
            # Removed from the library since the window opened: show it empty, say why.
            self.state = PhotoAnnotations(self.photos[image_id], [], [], [])
            self.message.emit(str(exc))
        self.editor.set_photo(image_id)
        self.list.set_annotated(image_id, self.state.annotated)
        self.photo_changed.emit(image_id)

    def step(self, delta: int) -> bool:
        """Show the next (``+1``) or previous (``-1``) photo; False at the end of the list."""
        if self.list.step(delta):
            self.load()
            return True
        if self.list.only_unannotated:
            self.message.emit("No more photos without annotations this way.")
        else:
            self.message.emit(
                "This is the last photo." if delta > 0 else "This is the first photo."
            )
        return False

    def next_unannotated(self) -> bool:
        if self.list.next_unannotated():
            self.load()
            return True
        self.message.emit(f"Every photo is annotated ({self.list.progress_text()}).")
        return False

    def set_only_unannotated(self, on: bool) -> None:
        """Walk only photos not yet annotated; moves on if the current one is annotated."""
        self.list.only_unannotated = on
        if on and self.list.current in self.list.annotated:
            self.next_unannotated()

    # --- edits -------------------------------------------------------------------------------

    def _edit(self, operation: Callable[[], Change], text: str | None = None) -> Change | None:
        return self.editor.edit(operation, text)

    def _applied(self, change: Change, undone: bool) -> None:
        touched = self.state.apply(change, undone=undone)
        self.list.set_annotated(self.state.photo.image_id, self.state.annotated)
        if touched.anything:
            self.changed.emit(touched)

    def add_box(self, rect: Rect, label: str) -> int | None:
        """Draw a box; returns its id (None if refused)."""
        image_id = self.photo.image_id
        name = label.strip() or DEFAULT_LABEL
        change = self._edit(lambda: self.annotations.add_box(image_id, *rect, name))
        return None if change is None else change.first_created().id

    def move_box(self, box_id: int, rect: Rect) -> bool:
        x, y, width, height = rect
        change = self._edit(
            lambda: self.annotations.edit_box(box_id, x=x, y=y, width=width, height=height),
            "move box",
        )
        return change is not None

    def relabel(self, box_id: int, label: str) -> bool:
        box = self.state.boxes.get(box_id)
        if box is None or box.label == label.strip():
            return False
        change = self._edit(lambda: self.annotations.edit_box(box_id, label=label), "relabel box")
        return change is not None

    def delete_box(self, box_id: int) -> bool:
        return self._edit(lambda: self.annotations.delete_box(box_id)) is not None

    def review_target(self, selected: int | None) -> Box | None:
        """The suggestion "accept" and "reject" act on: the selected one, else the first."""
        box = self.state.boxes.get(selected) if selected is not None else None
        if box is not None and box.status == "suggested":
            return box
        waiting = self.state.suggestions()
        return waiting[0] if waiting else None

    def accept(self, box_ids: Sequence[int]) -> bool:
        ids = list(box_ids)
        text = "accept suggestion" if len(ids) == 1 else f"accept {len(ids)} suggestions"
        return bool(ids) and self._edit(lambda: self.annotations.accept(ids), text) is not None

    def reject(self, box_ids: Sequence[int]) -> bool:
        ids = list(box_ids)
        text = "reject suggestion" if len(ids) == 1 else f"reject {len(ids)} suggestions"
        return bool(ids) and self._edit(lambda: self.annotations.reject(ids), text) is not None

    def add_caption(self, text: str) -> int | None:
        image_id = self.photo.image_id
        change = self._edit(lambda: self.annotations.add_caption(image_id, text))
        return None if change is None else change.first_created().id

    def edit_caption(self, caption_id: int, text: str) -> bool:
        return self._edit(lambda: self.annotations.edit_caption(caption_id, text)) is not None

    def move_caption(self, caption_id: int, position: int) -> bool:
        position = max(0, min(position, len(self.state.captions) - 1))
        return self._edit(lambda: self.annotations.move_caption(caption_id, position)) is not None

    def delete_caption(self, caption_id: int) -> bool:
        return self._edit(lambda: self.annotations.delete_caption(caption_id)) is not None

    def link(self, caption_id: int, start: int, end: int, box_id: int) -> bool:
        change = self._edit(lambda: self.annotations.link_span(caption_id, start, end, box_id))
        return change is not None

    def unlink(self, link_id: int) -> bool:
        return self._edit(lambda: self.annotations.unlink_span(link_id)) is not None

    def undo(self) -> None:
        self.editor.stack.undo()

    def redo(self) -> None:
        self.editor.stack.redo()
