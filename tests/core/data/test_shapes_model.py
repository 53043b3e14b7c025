from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from dclip_core.data.shapes_model import (
    BASE_FILE,
    PretrainConfig,
    PretrainingStoppedError,
    pretrain_base,
)
from dclip_core.data.shapes_world import WorldSize, build_world
from dclip_core.train.events import EventSink


@pytest.mark.slow
def test_pretraining_stopped_by_a_signal_saves_no_base_model(tmp_path: Path) -> None:
    # The demo and the benchmark reuse <run>/base.safetensors when it exists; a half-trained
    # model left there by Ctrl-C would be reused as if it were finished.
    world = build_world(tmp_path / "world", WorldSize(pretrain=16, finetune=2, test=2, seed=4))

    def terminate_at_step_2(record: dict[str, object]) -> None:
        if record.get("event") == "step" and record.get("step") == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    run_dir = tmp_path / "run"
    with pytest.raises(PretrainingStoppedError, match="nothing was saved"):
        pretrain_base(
            world,
            run_dir,
            PretrainConfig(steps=50, batch_size=8, threads=1),
            events=EventSink("none", listeners=[terminate_at_step_2]),
        )
    assert not (run_dir / BASE_FILE).exists()

    finished = pretrain_base(world, run_dir, PretrainConfig(steps=3, batch_size=8, threads=1))
    assert finished == run_dir / BASE_FILE
    assert finished.is_file()
