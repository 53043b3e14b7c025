"""The demo's model is reused only when today's recipe trained it, for the steps asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dclip_core.cancel import CancelToken
from dclip_core.config import get_paths
from dclip_core.errors import DemoCancelledError
from dclip_core.shapes.demo import (
    DEMO_MODEL_FILE,
    DemoExplainConfig,
    build_demo,
    demo_bundle,
    demo_model_is_current,
)
from dclip_core.shapes.detector import DetectorConfig
from dclip_core.shapes.world import WorldSize

TINY = WorldSize(pretrain=8, finetune=1, test=4, seed=3)
# explain/ with a few steps: what is built and reused, not how well it points.
TINY_EXPLAIN = DemoExplainConfig(teacher_steps=3, detector=DetectorConfig(epochs=1, scenes=8))


def _build(home: Path, steps: int) -> list[str]:
    lines: list[str] = []
    build_demo(home, pretrain_steps=steps, world=TINY, progress=lines.append, explain=TINY_EXPLAIN)
    return lines


@pytest.mark.slow
def test_a_demo_model_of_another_recipe_or_step_count_is_trained_again(dclip_home: Path) -> None:
    home = get_paths().data_dir / "demo"
    assert not demo_model_is_current(home, 3, TINY_EXPLAIN)
    first = _build(home, 3)
    assert any("training the demo model (3 steps" in line for line in first)
    assert any("training the explain teacher" in line for line in first)
    assert demo_model_is_current(home, 3, TINY_EXPLAIN)
    assert not demo_model_is_current(home, 4, TINY_EXPLAIN)
    assert not demo_model_is_current(home, 3)  # another explain/ recipe: rebuilt
    # The bundle explains: a grounded teacher and the shapes detector (docs/adr/0017).
    explain = json.loads((demo_bundle() / "bundle.json").read_text())["explain"]
    assert (explain["span_features"], explain["grounding"]) == ("sentence", "contrastive")
    assert explain["detector"]["name"].startswith("shapes-yolo-")
    assert (demo_bundle() / "explain" / "teacher.onnx").is_file()

    # A demo stamped before explain/ existed is brought up to date without pretraining again.
    stamp = home / DEMO_MODEL_FILE
    stamp.write_text(json.dumps({"recipe": json.loads(stamp.read_text())["recipe"]}))
    assert not demo_model_is_current(home, 3, TINY_EXPLAIN)
    upgraded = _build(home, 3)
    assert not any("training the demo model" in line for line in upgraded)
    assert demo_model_is_current(home, 3, TINY_EXPLAIN)

    again = _build(home, 3)
    assert any("using the demo model trained earlier" in line for line in again)
    assert not any("training the demo model" in line for line in again)

    # A demo built before the recipe was recorded (or whose record is unreadable) is stale.
    for broken in (None, "{not json", json.dumps(["a list"]), json.dumps({"recipe": "3-old"})):
        if broken is None:
            stamp.unlink()
        else:
            stamp.write_text(broken)
        assert not demo_model_is_current(home, 3, TINY_EXPLAIN)
    manifest = demo_bundle() / "bundle.json"
    exported = manifest.stat().st_mtime_ns
    rebuilt = _build(home, 3)
    assert any("bringing it up to date" in line for line in rebuilt)
    assert manifest.stat().st_mtime_ns != exported
    assert demo_model_is_current(home, 3, TINY_EXPLAIN)

    # A bundle exported before it recorded the teacher's training (every explanation would read
    # "not meaningful yet") is exported again, without training anything.
    data = json.loads(manifest.read_text())
    del data["explain"]["teacher_steps"]
    manifest.write_text(json.dumps(data))
    assert not demo_model_is_current(home, 3, TINY_EXPLAIN)
    refreshed = _build(home, 3)
    assert not any("training the" in line for line in refreshed)
    steps = json.loads(manifest.read_text())["explain"]["teacher_steps"]
    assert steps == TINY_EXPLAIN.teacher_steps
    assert demo_model_is_current(home, 3, TINY_EXPLAIN)

    # Asking for other steps trains those, and the record follows.
    _build(home, 4)
    assert demo_model_is_current(home, 4, TINY_EXPLAIN)
    assert not demo_model_is_current(home, 3, TINY_EXPLAIN)


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["training the explain teacher", "training the shapes detector"])
def test_the_explain_phases_stop_when_cancelled_and_the_next_build_finishes(
    dclip_home: Path, phase: str
) -> None:
    home = get_paths().data_dir / "demo"
    cancel = CancelToken()

    def progress(line: str) -> None:
        if line.startswith(phase):
            cancel.cancel()

    with pytest.raises(DemoCancelledError):
        build_demo(
            home,
            pretrain_steps=3,
            world=TINY,
            progress=progress,
            cancel=cancel,
            explain=TINY_EXPLAIN,
        )
    assert not demo_model_is_current(home, 3, TINY_EXPLAIN)
    lines = _build(home, 3)
    assert not any("training the demo model" in line for line in lines)  # the base was kept
    assert demo_model_is_current(home, 3, TINY_EXPLAIN)
