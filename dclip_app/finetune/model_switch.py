"""Switch the library to a fine-tuned bundle, and back, from the app (worker tasks).

Both run ``dclip models activate BUNDLE --json`` / ``dclip models rollback --json`` as children
(:func:`~dclip_app.child_process.run_child`): the core does the embedding with the new model while
the library keeps answering searches with the current one, records the replaced model for the
rollback, and points ``settings.model`` at the active bundle. The app then reloads its settings
and encoder (the main window connects the wizard's ``model_activated`` signal, or calls
:func:`rollback_model` from its Models menu).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dclip_app.child_process import parse_event, run_child
from dclip_app.finetune.commands import (
    ModelSwitchResult,
    SwitchProgress,
    activate_command,
    rollback_command,
)
from dclip_app.workers import TaskControl, Worker, WorkerPool
from dclip_core.errors import LibraryError

SwitchTask = Callable[[TaskControl], ModelSwitchResult]


def _switch_task(command: list[str], what: str) -> SwitchTask:
    def task(control: TaskControl) -> ModelSwitchResult:
        def on_line(line: str) -> None:
            progress = SwitchProgress.from_event(parse_event(line))
            if progress is not None:
                control.report(progress, force=progress.done == progress.total)

        output = run_child(command, control, on_line=on_line)
        if output.code not in (0, 130):
            raise LibraryError(f"{what} failed: {output.error_line()}")
        try:
            return ModelSwitchResult.from_events(map(parse_event, output.lines))
        except (ValueError, KeyError, TypeError) as exc:
            raise LibraryError(f"{what} gave no answer: {output.error_line()} ({exc})") from exc

    return task


def activate_task(bundle: Path) -> SwitchTask:
    """A worker task: make ``bundle`` the library's model (embedding the photos when needed).

    It reports :class:`~dclip_app.finetune.commands.SwitchProgress` while embedding; a cancel
    closes the child's stdin, which stops it after the batch in flight (the next activation
    continues from there).
    """
    return _switch_task(activate_command(bundle), "switching the library to the new model")


def rollback_task() -> SwitchTask:
    """A worker task: go back to the library's previous model."""
    return _switch_task(rollback_command(), "rolling back to the previous model")


def rollback_model(
    pool: WorkerPool,
    on_done: Callable[[ModelSwitchResult], None],
    on_error: Callable[[BaseException], None],
) -> Worker:
    """Roll the library back to its previous model in the background (the Models menu's action).

    ``on_done`` gets the result on the GUI thread (``result.active_bundle`` is the bundle to load
    now); ``on_error`` gets a :class:`~dclip_core.errors.LibraryError` whose message says why,
    e.g. that there is no previous model.
    """
    return pool.start(rollback_task(), "model rollback", on_result=on_done, on_error=on_error)
