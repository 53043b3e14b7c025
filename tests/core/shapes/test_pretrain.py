from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dclip_core.models.clip import create_clip
from dclip_core.models.registry import get_model_spec
from dclip_core.shapes.pretrain import BASE_FILE, PretrainingStoppedError, pretrain_base
from dclip_core.shapes.recipe import PretrainConfig, pretrain_recipe_id
from dclip_core.shapes.world import WorldSize, build_world
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


@pytest.mark.slow
def test_pretraining_first_trains_the_image_tower_against_the_random_text_tower(
    tmp_path: Path,
) -> None:
    world = build_world(tmp_path / "world", WorldSize(pretrain=16, finetune=2, test=2, seed=4))
    stages: list[tuple[str, object]] = []

    def record_stage(record: dict[str, object]) -> None:
        if record.get("event") == "step" and record.get("step") == 1:
            stages.append((str(record.get("stage")), record.get("total_steps")))

    config = PretrainConfig(steps=4, batch_size=8, threads=1, frozen_text_share=0.5)
    both = load_file(
        pretrain_base(
            world, tmp_path / "both", config, events=EventSink("none", listeners=[record_stage])
        )
    )
    image_only = load_file(
        pretrain_base(world, tmp_path / "image", dataclasses.replace(config, frozen_text_share=1.0))
    )
    init = create_clip(dataclasses.replace(get_model_spec("shapes-tiny"), seed=1000)).state_dict()

    assert stages == [("pretrain-image", 2), ("pretrain", 2)]
    text = [n for n in init if n.startswith("transformer.")]
    vision = [n for n in init if n.startswith("visual.") and n.endswith(".weight")]
    assert text
    assert vision
    # Phase 1 alone: every text weight is still its random init, every image weight moved.
    assert all(torch.equal(image_only[n], init[n]) for n in text)
    assert all(not torch.equal(image_only[n], init[n]) for n in vision)
    # Phase 2 trains the text tower too (the token table stays random in both).
    assert all(not torch.equal(both[n], init[n]) for n in text if n.endswith(".weight"))
    assert torch.equal(both["token_embedding.weight"], init["token_embedding.weight"])


def test_the_recipe_id_names_steps_and_changes_with_the_recipe() -> None:
    base = pretrain_recipe_id(PretrainConfig(steps=800))
    assert base.startswith("800-")
    assert pretrain_recipe_id(PretrainConfig(steps=800, threads=1)) == base
    assert pretrain_recipe_id(PretrainConfig(steps=800, frozen_text_share=0.0)) != base
    assert pretrain_recipe_id(PretrainConfig(steps=1600)).startswith("1600-")
