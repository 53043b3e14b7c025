"""The fine-tune wizard end to end on test-tiny, as a user drives it: check, recipe, training,
evaluation, activation and rollback; a training process killed with SIGKILL and resumed; the
wizard closed during a run and the run re-attached on the next start."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from dclip_app.finetune import FinetuneWizard, find_unfinished_runs, offer_unfinished_run
from dclip_app.finetune.run_state import RunStatus
from dclip_app.finetune.wizard import ACTIVATE_PAGE, CHECK_PAGE, EVALUATE_PAGE, TRAIN_PAGE
from dclip_core.cli import main
from dclip_core.config import Settings, load_settings
from dclip_core.library import Library

TRAIN_TIMEOUT_MS = 120_000


def _stages(run: Path) -> list[str]:
    return list(json.loads((run / "finetune.json").read_text())["stages"])


def _wizard(
    qtbot: QtBot, settings: Settings | None, folders: list[Path], extra: list[str]
) -> FinetuneWizard:
    wizard = FinetuneWizard(settings, folders, extra_args=extra, model=None)
    qtbot.addWidget(wizard)
    wizard.show()
    return wizard


def _through_check(qtbot: QtBot, wizard: FinetuneWizard, folder: Path) -> None:
    wizard.data_page.set_choice(None)
    wizard.data_page.format_box.setCurrentIndex(wizard.data_page.format_box.findData("folder"))
    wizard.data_page.path_field.edit.setText(str(folder))
    assert wizard.button(wizard.WizardButton.NextButton).isEnabled()
    wizard.next()
    assert wizard.currentId() == CHECK_PAGE
    qtbot.waitUntil(lambda: wizard.check_page.report is not None, timeout=60_000)
    assert wizard.check_page.isComplete(), wizard.check_page.error.text()


def _until(qtbot: QtBot, condition: Callable[[], bool], timeout: int = TRAIN_TIMEOUT_MS) -> None:
    qtbot.waitUntil(condition, timeout=timeout)


@pytest.mark.slow
def test_a_user_fine_tunes_evaluates_activates_and_rolls_back(
    qtbot: QtBot, captioned: Path, tiny_bundle: Path, app_settings: Settings, tiny: list[str]
) -> None:
    # a library searched with test-tiny, holding the captioned photos
    assert main(["index", str(captioned)]) == 0
    wizard = _wizard(qtbot, app_settings, [captioned], tiny)

    _through_check(qtbot, wizard, captioned)
    page = wizard.check_page
    assert "24 photos found, 24 with a caption, 24 usable" in page.counts.text()
    assert "19 to train on, 5 held out" in page.split.text()
    assert "only 19 photos to train on" in page.warnings.text()
    assert page.samples.count() > 0  # thumbnails with their captions
    assert page.report is not None
    assert page.report.estimate  # measured before anything trains
    assert page.device.text().startswith(f"Time: {page.report.estimate}")

    wizard.next()  # Recipe: quick (the tiny values come in through extra_args)
    recipe = wizard.recipe_page
    assert recipe.choice().name == "quick"
    recipe.select("custom")  # a custom held-out share says what it makes of the checked photos
    recipe.held_out.setValue(0.5)
    assert recipe.split_hint.text() == "about 12 to train on, 12 held out"
    recipe.trainable.setCurrentIndex(recipe.trainable.findData("all"))
    recipe.hard_negatives.setChecked(True)
    args = recipe.choice().args()
    assert "student.trainable=all" in args
    assert "student.w_neg=1" in args
    recipe.select("quick")
    assert recipe.choice().name == "quick"
    wizard.next()  # Start training
    assert wizard.currentId() == TRAIN_PAGE
    train = wizard.train_page
    _until(qtbot, lambda: wizard.context.state.status is RunStatus.FINISHED)
    assert train.chart.point_count() > 0
    assert "Finished" in train.stage.text()
    assert wizard.context.state.estimate_text  # the measured estimate was shown
    run = wizard.context.state.run_dir
    assert run is not None
    assert _stages(run)[-1] == "export"
    assert (run / "wizard-process.json").is_file()
    assert find_unfinished_runs() == []

    _until(qtbot, train.isComplete, 10_000)
    wizard.next()
    assert wizard.currentId() == EVALUATE_PAGE
    verdict = json.loads((run / "eval.json").read_text())["verdict"]["text"]
    assert verdict in wizard.evaluate_page.verdict.text()
    assert wizard.evaluate_page.table.rowCount() >= 2
    assert wizard.evaluate_page.bars.bar_count() > 0

    wizard.next()
    assert wizard.currentId() == ACTIVATE_PAGE
    activate = wizard.activate_page
    activate.activate_button.click()  # and Stop at once: the child stops before embedding
    assert activate.stop_button.isVisible()
    activate.stop_button.click()
    _until(qtbot, activate.isComplete, 60_000)
    assert "Stopped: searches still use the current model" in activate.status.text()
    assert not activate.stop_button.isVisible()
    with Library.open() as library:
        assert library.status().active_model.bundle_path == tiny_bundle  # type: ignore[union-attr]

    with qtbot.waitSignal(wizard.model_activated, timeout=60_000) as activated:
        activate.activate_button.click()  # again, to the end
    assert activated.args == [run / "bundle"]
    assert "Searching with" in activate.status.text()
    assert (activate.busy.value(), activate.busy.maximum()) == (24, 24)  # it counted the photos
    with Library.open() as library:
        assert library.status().active_model.bundle_path == run / "bundle"  # type: ignore[union-attr]
    assert load_settings().model == str(run / "bundle")

    _until(qtbot, activate.rollback_button.isEnabled, 10_000)
    with qtbot.waitSignal(wizard.model_rolled_back, timeout=60_000):
        activate.rollback_button.click()
    assert "Back to test-tiny" in activate.status.text()
    with Library.open() as library:
        assert library.status().active_model.bundle_path == tiny_bundle  # type: ignore[union-attr]
    _until(qtbot, activate.isComplete, 10_000)
    wizard.accept()


@pytest.mark.slow
def test_a_killed_training_process_is_resumed_from_the_wizard(
    qtbot: QtBot, captioned: Path, tiny: list[str]
) -> None:
    # a teacher long enough (45 steps) to be killed in the middle of
    longer = [*tiny, "--set", "teacher.epochs=15"]
    wizard = _wizard(qtbot, None, [], ["--model", "test-tiny", "--no-estimate", *longer])
    _through_check(qtbot, wizard, captioned)
    wizard.next()
    wizard.next()
    state = lambda: wizard.context.state  # noqa: E731 - the state object is replaced on resume
    # kill -9 once the teacher saved a checkpoint (every 2 steps)
    _until(qtbot, lambda: len(state().loss_points("teacher")) >= 4)
    pid = wizard.process.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    train = wizard.train_page
    _until(qtbot, train.resume_button.isEnabled, 30_000)
    assert state().status is RunStatus.INTERRUPTED
    assert "Interrupted" in train.stage.text()
    run = state().run_dir
    assert run is not None
    assert "teacher" not in _stages(run)

    train.resume_button.click()
    _until(qtbot, lambda: state().status is RunStatus.FINISHED)
    assert _stages(run)[-1] == "export"
    events = [json.loads(line) for line in (run / "events.jsonl").open()]
    starts = [e["step"] for e in events if e["event"] == "start" and e["stage"] == "teacher"]
    assert starts[0] == 0
    assert starts[1] > 0
    assert train.chart.point_count() > 0
    assert state().attempts == 1


@pytest.mark.slow
def test_closing_the_wizard_keeps_training_and_the_next_start_re_attaches(
    qtbot: QtBot, captioned: Path, tiny: list[str]
) -> None:
    wizard = _wizard(qtbot, None, [], ["--model", "test-tiny", "--no-estimate", *tiny])
    _through_check(qtbot, wizard, captioned)
    wizard.next()
    wizard.next()
    _until(qtbot, lambda: bool(wizard.context.state.loss_points("teacher")))
    wizard.leave_running = lambda: "keep"
    wizard.reject()
    assert not wizard.isVisible()
    pid = wizard.process.pid

    # the next start finds the run still training
    runs = find_unfinished_runs()
    assert [r.pid for r in runs] == [pid]
    asked: list[str] = []
    again = offer_unfinished_run(
        None, runs=runs, ask=lambda parent, run: asked.append(run.describe()) or "show"
    )
    assert again is not None
    qtbot.addWidget(again)
    assert "still training" in asked[0]
    assert again.currentId() == TRAIN_PAGE
    assert again.process.running
    _until(qtbot, lambda: again.context.state.status is RunStatus.FINISHED)
    # the re-attached wizard shows the whole run, from before it was closed too
    assert again.context.state.loss_points("teacher")[0][0] == 1
    assert again.train_page.chart.point_count() >= 15
    run = again.context.state.run_dir
    assert run is not None
    assert _stages(run)[-1] == "export"
    assert find_unfinished_runs() == []
    again.next()
    assert again.evaluate_page.verdict.text()
    again.accept()


def test_refused_data_keeps_next_disabled_and_says_why(qtbot: QtBot, tmp_path: Path) -> None:
    folder = tmp_path / "uncaptioned"
    folder.mkdir()
    from tests.helpers.images import write_photo_library

    write_photo_library(folder)
    wizard = _wizard(qtbot, None, [], ["--model", "test-tiny"])
    wizard.data_page.path_field.edit.setText(str(folder))
    wizard.next()
    qtbot.waitUntil(lambda: wizard.check_page.report is not None, timeout=60_000)
    assert not wizard.check_page.isComplete()
    assert not wizard.button(wizard.WizardButton.NextButton).isEnabled()
    assert "has a caption" in wizard.check_page.error.text()
    wizard.reject()
