"""Undo and redo of annotation edits: one QUndoCommand per edit, holding the core's Change.

The core does the edit when the user makes it (every edit reaches the database at once, no save
button) and returns a :class:`~dclip_core.library.annotations.Change`. The command keeps it:
:meth:`AnnotationCommand.undo` is ``annotations.undo(change)``, a later redo
``annotations.redo(change)``, each one transaction, so no command needs inverse code of its own
(ADR 0021, ADR 0022).

Each photo has its own :class:`QUndoStack` in one :class:`QUndoGroup`: Ctrl+Z only ever undoes
an edit of the photo on screen, and going back to a photo brings its history back. When an undo
or redo meets rows someone else changed since (another window, ``dclip annotate import``), the
core refuses; the photo's history is dropped and the photo reloaded from the database.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoGroup, QUndoStack

from dclip_core.library.annotations import AnnotationConflictError, AnnotationError, Change
from dclip_core.library.annotations import Annotations as CoreAnnotations


class AnnotationCommand(QUndoCommand):
    """An edit already written to the database; undo and redo replay its Change."""

    def __init__(self, editor: AnnotationEditor, change: Change, text: str) -> None:
        super().__init__(text)
        self.editor = editor
        self.change = change
        self._done = True  # pushed after the core made the edit: the first redo is a no-op

    def redo(self) -> None:
        if self._done:
            return
        if self.editor.replay(self.change, undo=False):
            self._done = True

    def undo(self) -> None:
        if self.editor.replay(self.change, undo=True):
            self._done = False


class AnnotationEditor(QObject):
    """Runs edits through the core, keeps them undoable per photo, says what changed.

    Signals:
        applied(Change, undone): a change (an edit, an undo or a redo) is in the database.
        failed(str): an edit was refused; one line for the user.
        conflicted(int): an undo or redo met another writer's changes on this image id; its
            history is gone and the window should reload the photo.
    """

    applied = Signal(object, bool)
    failed = Signal(str)
    conflicted = Signal(int)

    def __init__(self, annotations: CoreAnnotations, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.annotations = annotations
        self.group = QUndoGroup(self)
        self.stacks: dict[int, QUndoStack] = {}
        self.image_id: int | None = None

    def set_photo(self, image_id: int) -> None:
        """Edits from now on belong to ``image_id``; its own history becomes the active one."""
        self.image_id = image_id
        stack = self.stacks.get(image_id)
        if stack is None:
            stack = self.stacks[image_id] = QUndoStack(self.group)
        self.group.setActiveStack(stack)

    @property
    def stack(self) -> QUndoStack:
        stack = self.group.activeStack()
        assert stack is not None, "set_photo first"
        return stack

    def edit(self, operation: Callable[[], Change], text: str | None = None) -> Change | None:
        """Run ``operation`` (a core write returning a Change) and make it undoable.

        Returns:
            the change, or None when the core refused it (``failed`` was emitted) or it changed
            nothing (say, linking words already linked).
        """
        try:
            change = operation()
        except AnnotationError as exc:
            self.failed.emit(str(exc))
            return None
        if not change.rows:
            return None
        self.stack.push(AnnotationCommand(self, change, text or change.what))
        self.applied.emit(change, False)
        return change

    def replay(self, change: Change, *, undo: bool) -> bool:
        """Undo or redo ``change`` in the database; False (and the history dropped) if refused."""
        try:
            if undo:
                self.annotations.undo(change)
            else:
                self.annotations.redo(change)
        except AnnotationConflictError as exc:
            self.failed.emit(str(exc))
            self._drop_history()
            return False
        except AnnotationError as exc:
            self.failed.emit(str(exc))
            return False
        self.applied.emit(change, undo)
        return True

    def _drop_history(self) -> None:
        image_id, stack = self.image_id, self.group.activeStack()

        def drop() -> None:  # not from inside the stack's own undo()
            if stack is not None:
                stack.clear()
            if image_id is not None:
                self.conflicted.emit(image_id)

        QTimer.singleShot(0, drop)
