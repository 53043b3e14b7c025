"""The annotation window: a photo with its boxes, the box list, the captions, walking the photos.

Open it on a library and the photos to label (a folder's, or the current search results)::

    photos = folder_photos(library.annotations(), [folder])  # or [hit.image_id for hit in hits]
    window = AnnotateWindow(library, photos, start=0, shortcuts=settings.shortcuts, parent=main)
    window.show()

A thin view over :class:`~dclip_app.annotate.session.AnnotationSession` (what edits mean) and the
shared :class:`~dclip_app.photo_canvas.PhotoCanvas` in edit mode
(:class:`~dclip_app.annotate.edit_tool.BoxEditTool`):

1. a photo is shown from a screen-sized preview decoded in the background
   (:class:`~dclip_app.annotate.preview_loader.PreviewLoader`); boxes are in its full-size pixels;
2. each edit is written to the library at once and is one undo step (Ctrl+Z / Ctrl+Shift+Z);
3. only the boxes an edit touched are redrawn, so a photo with hundreds of boxes stays quick;
4. keys come from the shortcut table and the user's Settings (:meth:`AnnotateWindow.set_shortcuts`),
   listed by "Keyboard shortcuts" (F1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QColor, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QLabel,
    QMainWindow,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from dclip_app.annotate import box_items
from dclip_app.annotate.actions import AnnotateActions, build_toolbar
from dclip_app.annotate.box_panel import BoxPanel
from dclip_app.annotate.caption_panel import CaptionPanel
from dclip_app.annotate.edit_tool import BoxEditTool
from dclip_app.annotate.help_dialog import ShortcutsDialog
from dclip_app.annotate.navigation import annotated_ids, resolve_photos
from dclip_app.annotate.photo_state import Touched
from dclip_app.annotate.preview_loader import PreviewLoader
from dclip_app.annotate.session import AnnotationSession
from dclip_app.photo_canvas import PhotoCanvas
from dclip_app.resources import icon
from dclip_core.library.annotations import AnnotationError

if TYPE_CHECKING:
    from dclip_core.library.library import Library

ERROR_STYLE = "color: #a33a2a; font-weight: 600;"
SIDE_WIDTH = 380


class AnnotateWindow(QMainWindow):
    """Label photos of the library: boxes, suggestions to review, captions and their links.

    Args:
        library: the open library (``MainWindow.service.library``); the window edits through
            the GUI thread's :meth:`Library.annotations`.
        photos: the photos to walk, as paths or image ids, in order (a folder's photos, or the
            current search results). Photos the library cannot annotate (not indexed,
            unreadable) are left out and counted in the status line.
        start: index in ``photos`` of the photo shown first.
        shortcuts: the user's changed keys (``Settings.shortcuts``); None: the defaults.
        parent: the main window.

    Raises:
        AnnotationError: none of ``photos`` can be annotated (the message says why).
    """

    photo_shown = Signal(int)  # image id, once its preview and boxes are on the canvas

    def __init__(
        self,
        library: Library,
        photos: Sequence[Path | str | int],
        start: int = 0,
        *,
        shortcuts: Mapping[str, str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window, True)
        self.setObjectName("AnnotateWindow")
        self.setWindowIcon(icon("dclip"))
        annotations = library.annotations()
        found, problems = resolve_photos(annotations, photos)
        if not found:
            reason = problems[0] if problems else "the list is empty"
            raise AnnotationError(f"none of the {len(photos)} photos can be annotated: {reason}")
        wanted = photos[start] if 0 <= start < len(photos) else None
        first = next(
            (i for i, p in enumerate(found) if wanted in (p.image_id, p.path, str(wanted))), 0
        )
        self.session = AnnotationSession(
            annotations, found, annotated_ids(annotations, found), first, parent=self
        )
        self.skipped = problems
        self._shown: int | None = None  # image id whose items are on the canvas

        self.canvas = PhotoCanvas()
        self.tool = BoxEditTool(self.canvas)
        self.items = box_items.CanvasBoxes(self.tool)
        self.loader = PreviewLoader(parent=self)
        self.box_panel = BoxPanel()
        self.caption_panel = CaptionPanel()
        self.key_actions = AnnotateActions(self, shortcuts)
        self.help_dialog: ShortcutsDialog | None = None
        self.title_label = QLabel()
        self.title_label.setObjectName("AnnotateTitle")
        self.progress_label = QLabel()
        self.position_label = QLabel()
        self.position_label.setObjectName("HelpText")
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.only_unannotated = QCheckBox("Only not yet annotated")

        self._build()
        self._connect()
        self.resize(1280, 820)
        self.session.load()
        if problems:
            self.show_message(f"{len(problems)} photo(s) left out: {problems[0]}", error=True)

    # --- building ----------------------------------------------------------------------------

    def _build(self) -> None:
        self.addToolBar(build_toolbar(self.key_actions, self.only_unannotated, self.progress_label))
        boxes = QGroupBox("Boxes")
        QVBoxLayout(boxes).addWidget(self.box_panel)
        captions = QGroupBox("Captions")
        QVBoxLayout(captions).addWidget(self.caption_panel)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(6, 6, 6, 6)
        side_layout.addWidget(self.title_label)
        side_layout.addWidget(self.position_label)
        side_layout.addWidget(boxes, 3)
        side_layout.addWidget(captions, 2)
        side.setMinimumWidth(300)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 0, 6)
        left_layout.addWidget(self.canvas, 1)
        left_layout.addWidget(self.message_label)
        self.splitter = QSplitter()
        self.splitter.addWidget(left)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([900, SIDE_WIDTH])
        self.setCentralWidget(self.splitter)
        escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        escape.activated.connect(self.tool.cancel)

    def _connect(self) -> None:
        a, session, tool = self.key_actions, self.session, self.tool
        a["previous_photo"].triggered.connect(lambda: session.step(-1))
        a["next_photo"].triggered.connect(lambda: session.step(+1))
        a["next_unannotated"].triggered.connect(session.next_unannotated)
        a["new_box"].triggered.connect(lambda on: tool.set_drawing(bool(on)))
        a["delete"].triggered.connect(self.delete_selected)
        a["edit_label"].triggered.connect(self._focus_label)
        a["accept"].triggered.connect(self.accept_suggestion)
        a["reject"].triggered.connect(self.reject_suggestion)
        a["accept_all"].triggered.connect(lambda: session.accept(self._suggestion_ids()))
        a["reject_all"].triggered.connect(lambda: session.reject(self._suggestion_ids()))
        a["add_caption"].triggered.connect(self.caption_panel.focus_new)
        a["link_span"].triggered.connect(self.caption_panel.request_link)
        a["undo"].triggered.connect(session.undo)
        a["redo"].triggered.connect(session.redo)
        a["fit"].triggered.connect(self.canvas.fit)
        a["actual_size"].triggered.connect(self.canvas.actual_size)
        a["help"].triggered.connect(self.show_shortcuts)
        group = session.editor.group
        group.canUndoChanged.connect(a["undo"].setEnabled)
        group.canRedoChanged.connect(a["redo"].setEnabled)
        a["undo"].setEnabled(False)
        a["redo"].setEnabled(False)
        self.only_unannotated.toggled.connect(session.set_only_unannotated)
        self.only_unannotated.toggled.connect(lambda _on: self._show_progress())

        session.photo_changed.connect(self._photo_changed)
        session.changed.connect(self._changed)
        session.message.connect(lambda text: self.show_message(text, error=True))
        self.loader.ready.connect(self._preview_ready)
        self.loader.failed.connect(self._preview_failed)

        tool.drawn.connect(self._box_drawn)
        tool.changed.connect(lambda box_id, rect: self._box_edited(box_id, rect))
        tool.selection_changed.connect(self._box_selected_on_canvas)
        tool.drawing_changed.connect(a["new_box"].setChecked)
        panel = self.box_panel
        panel.box_selected.connect(self._box_selected_in_list)
        panel.label_entered.connect(self._label_entered)
        panel.accept_requested.connect(self.accept_suggestion)
        panel.reject_requested.connect(self.reject_suggestion)
        panel.accept_all_requested.connect(a["accept_all"].trigger)
        panel.reject_all_requested.connect(a["reject_all"].trigger)
        panel.delete_requested.connect(self._delete_box)
        captions = self.caption_panel
        captions.caption_added.connect(session.add_caption)
        captions.caption_edited.connect(self._caption_edited)
        captions.caption_moved.connect(session.move_caption)
        captions.caption_deleted.connect(session.delete_caption)
        captions.caption_selected.connect(lambda _id: self._highlight_links())
        captions.link_requested.connect(self._link)
        captions.unlink_requested.connect(session.unlink)
        captions.link_selected.connect(lambda box: self.select_box(box if box >= 0 else None))

    # --- photos ------------------------------------------------------------------------------

    def _photo_changed(self, image_id: int) -> None:
        state = self.session.state
        name = Path(state.photo.path).name
        self.setWindowTitle(f"Annotate — {name}")
        self.title_label.setText(f"<b>{name}</b> · {state.photo.width} × {state.photo.height}")
        self.title_label.setToolTip(state.photo.path)
        self.tool.cancel()
        self.tool.select(None, notify=False)
        self.box_panel.set_labels(self.session.labels())
        self.box_panel.set_boxes(state.boxes)
        self.box_panel.select(None)
        self.caption_panel.set_box_selected(False)
        self.caption_panel.show_state(state)
        self._show_progress()
        self._shown = None
        self.loader.request(state.photo.path)
        photos = self.session.photos
        self.loader.prefetch([photos[i].path for i in self.session.list.neighbours()])

    def _preview_ready(self, path: str, image: QImage) -> None:
        state = self.session.state
        if path != state.photo.path:
            return
        self.canvas.set_photo(image, (state.photo.width, state.photo.height), path)
        self.items.show_all(state)
        self._shown = state.photo.image_id
        self._highlight_links()
        self.photo_shown.emit(self._shown)

    def _preview_failed(self, path: str, message: str) -> None:
        state = self.session.state
        if path != state.photo.path:
            return
        placeholder = QImage(
            64, max(1, 64 * state.photo.height // state.photo.width), QImage.Format.Format_RGB32
        )
        placeholder.fill(QColor(70, 70, 76))
        self._preview_ready(path, placeholder)
        self.show_message(message, error=True)

    def _show_progress(self) -> None:
        self.progress_label.setText(f"  {self.session.list.progress_text()}  ")
        self.position_label.setText(self.session.list.position_text())
        for name, delta in (("previous_photo", -1), ("next_photo", +1)):
            self.key_actions[name].setEnabled(self.session.list.has_step(delta))

    # --- keeping the views in step -------------------------------------------------------------

    def _changed(self, touched: Touched) -> None:
        state = self.session.state
        if touched.labels:
            self.box_panel.set_labels(self.session.labels())
        if touched.boxes and self._shown == state.photo.image_id:
            for box_id in touched.boxes:
                self.items.sync(state, box_id)
        self.box_panel.set_boxes(state.boxes, touched.boxes)
        if self.tool.selected is not None and self.tool.selected not in state.boxes:
            self.tool.select(None)
        else:
            self.box_panel.select(self.tool.selected)
        if touched.captions or touched.links or touched.boxes:
            self.caption_panel.show_state(state)
            self._highlight_links()
        self._show_progress()
        self.show_message("")

    def _highlight_links(self) -> None:
        """The boxes the selected caption's words name get a stronger fill."""
        state = self.session.state
        caption = self.caption_panel.current_caption
        linked = {k.box_id for k in state.links_of_caption(caption)} if caption else set()
        self.items.highlight(state, linked)

    def show_message(self, text: str, *, error: bool = False) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet(ERROR_STYLE if error else "")
        self.message_label.setVisible(bool(text))

    # --- boxes -------------------------------------------------------------------------------

    def select_box(self, box_id: int | None) -> None:
        """Select a box on the canvas and in the list."""
        self.tool.select(box_id)

    def _box_selected_on_canvas(self, box_id: int) -> None:
        self.box_panel.select(box_id if box_id >= 0 else None)
        self.caption_panel.set_box_selected(box_id >= 0)

    def _box_selected_in_list(self, box_id: int) -> None:
        self.tool.select(box_id if box_id >= 0 else None, notify=False)
        self.caption_panel.set_box_selected(box_id >= 0)
        item = self.tool.item(box_id)
        if item is not None:
            self.canvas.ensureVisible(item)

    def _box_drawn(self, rect: tuple[float, float, float, float]) -> None:
        box_id = self.session.add_box(rect, self.box_panel.label)
        if box_id is not None:
            self.select_box(box_id)
            self._focus_label()

    def _box_edited(self, box_id: int, rect: tuple[float, float, float, float]) -> None:
        if not self.session.move_box(box_id, rect):
            # Refused: the box goes back where the database has it.
            self.items.sync(self.session.state, box_id)

    def _label_entered(self, label: str) -> None:
        if self.tool.selected is not None and label:
            self.session.relabel(self.tool.selected, label)
        self.canvas.setFocus()

    def _focus_label(self) -> None:
        self.box_panel.label_field.setFocus()
        self.box_panel.label_field.selectAll()

    def _delete_box(self) -> None:
        if self.tool.selected is not None:
            self.session.delete_box(self.tool.selected)

    def delete_selected(self) -> None:
        """Delete: the caption when the caption list has the focus, else the selected box."""
        caption = self.caption_panel.current_caption
        if self.caption_panel.list.hasFocus() and caption is not None:
            self.session.delete_caption(caption)
        else:
            self._delete_box()

    def _suggestion_ids(self) -> list[int]:
        return [b.id for b in self.session.state.suggestions()]

    def accept_suggestion(self) -> None:
        """Accept the selected suggestion (else the first), then select the next one."""
        self._review(accept=True)

    def reject_suggestion(self) -> None:
        self._review(accept=False)

    def _review(self, *, accept: bool) -> None:
        target = self.session.review_target(self.tool.selected)
        if target is None:
            self.show_message("No suggestion to review on this photo.")
            return
        done = self.session.accept([target.id]) if accept else self.session.reject([target.id])
        if done:
            waiting = self.session.state.suggestions()
            self.select_box(waiting[0].id if waiting else (target.id if accept else None))

    # --- captions ----------------------------------------------------------------------------

    def _caption_edited(self, caption_id: int, text: str) -> None:
        if not self.session.edit_caption(caption_id, text):
            self.caption_panel.show_state(self.session.state)  # refused: show the stored text

    def _link(self, caption_id: int, start: int, end: int) -> None:
        if self.tool.selected is None:
            self.show_message("Select the box the words name first.", error=True)
            return
        self.session.link(caption_id, start, end, self.tool.selected)

    # --- shortcuts and closing -----------------------------------------------------------------

    def set_shortcuts(self, overrides: Mapping[str, str] | None) -> None:
        """Use the keys of ``overrides`` (``Settings.shortcuts``) from now on."""
        self.key_actions.apply(overrides)
        if self.help_dialog is not None:
            self.help_dialog.show_keys(self.key_actions.keys)

    def show_shortcuts(self) -> ShortcutsDialog:
        if self.help_dialog is None:
            self.help_dialog = ShortcutsDialog(self.key_actions.keys, self)
        self.help_dialog.show()
        self.help_dialog.raise_()
        return self.help_dialog

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.help_dialog is not None:
            self.help_dialog.close()
        self.loader.shutdown()
        self.canvas.shutdown()
        super().closeEvent(event)
