"""Recipes: `paper` carries every value of DESIGN.md §6; overrides are checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dclip_core.errors import ConfigError
from dclip_core.train.recipes import Recipe, get_recipe, load_recipe


def test_paper_recipe_is_design_section_6() -> None:
    r = get_recipe("paper")
    t, s, d = r.teacher, r.student, r.data
    # teacher: 8 heads, 1 layer, no FFN, masks on, pooling T=2, Adam 1e-5, batch 32, 5 epochs, τ .05
    assert (t.heads, t.layers, t.ffn, t.paper_compat, t.pool_temperature) == (
        8,
        1,
        False,
        False,
        2.0,
    )
    assert (t.optimizer, t.lr, t.batch_size, t.epochs, t.temperature) == ("adam", 1e-5, 32, 5, 0.05)
    assert (t.schedule, t.span_mode) == ("constant", "tokens")
    # student: AdamW 1e-6 wd .01, batch 32 x 4 accumulation, clip 0.5, 2 epochs, weights 1/1/1
    assert (s.optimizer, s.lr, s.weight_decay, s.betas, s.eps) == (
        "adamw",
        1e-6,
        0.01,
        (0.9, 0.999),
        1e-8,
    )
    assert (s.batch_size, s.grad_accum, s.grad_clip, s.epochs) == (32, 4, 0.5, 2)
    assert (s.w_img, s.w_txt, s.w_con, s.temperature) == (1.0, 1.0, 1.0, 0.05)
    assert (s.trainable, s.train_text, s.schedule) == ("attn-proj", False, "constant")
    # data: YOLOv8x at conf 0.25, 90/10 split, one random caption per step; seed 42
    assert (d.detector, d.detector_conf, d.val_fraction, d.region_source) == (
        "yolov8x",
        0.25,
        0.1,
        "yolo",
    )
    assert d.captions_per_step == "random-one"
    assert r.seed == 42


def test_toml_then_flags_override(tmp_path: Path) -> None:
    toml = tmp_path / "mine.toml"
    toml.write_text('seed = 3\n[teacher]\nlr = 3e-5\nepochs = 2\n[student]\ntrainable = "vision"\n')
    r = load_recipe("paper", toml, {"teacher": {"epochs": "4"}, "student": {"train_text": "true"}})
    assert (r.seed, r.teacher.lr, r.teacher.epochs) == (3, 3e-5, 4)
    assert (r.student.trainable, r.student.train_text) == ("vision", True)
    assert Recipe.from_json(r.to_json()) == r


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"teacher": {"lrr": 1}}, "unknown setting 'lrr' (did you mean 'lr'?)"),
        ({"student": {"trainable": "text"}}, "trainable must be one of"),
        ({"teacher": {"epochs": "many"}}, "expected a int"),
    ],
)
def test_bad_overrides_are_named(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_recipe("paper", overrides=overrides)


def test_unknown_recipe_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'paper'"):
        get_recipe("papr")
    bad = tmp_path / "bad.toml"
    bad.write_text("[teacher\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_recipe("paper", bad)
