"""The verdict's plain words: a real gain, no gain, a loss, and a model that forgot."""

from __future__ import annotations

from dclip_core.finetune.verdict import judge, noise_points


def test_a_gain_beyond_chance_is_recommended_in_plain_words() -> None:
    verdict = judge(
        {"t2i_r1": 0.40, "zero_shot_top1": 0.50},
        {"t2i_r1": 0.481, "zero_shot_top1": 0.48},
        queries={"t2i_r1": 900},
        photos=300,
    )
    assert verdict.helped
    assert verdict.text == (
        "text→image R@1 +8.1 points on your 300 held-out photos, zero-shot kept 96%: "
        "use the fine-tuned model"
    )


def test_a_change_within_chance_is_no_gain() -> None:
    verdict = judge({"t2i_r1": 0.40}, {"t2i_r1": 0.43}, queries={"t2i_r1": 60}, photos=20)
    assert not verdict.helped
    assert verdict.text.startswith("no gain: keep the current model (text→image R@1 +3.0 points")
    assert "(within chance, ±9.0)" in verdict.text


def test_a_loss_beyond_chance_says_worse() -> None:
    verdict = judge(
        {"t2i_r1": 0.40, "hard_negative_accuracy": 0.6},
        {"t2i_r1": 0.50, "hard_negative_accuracy": 0.4},
        queries={"t2i_r1": 900, "hard_negative_accuracy": 300},
        photos=300,
    )
    assert not verdict.helped
    assert verdict.text.startswith("worse: text→image R@1 +10.0 points, hard-negative accuracy")


def test_a_gain_that_forgot_zero_shot_is_not_recommended() -> None:
    verdict = judge(
        {"t2i_r1": 0.40, "zero_shot_top1": 0.50},
        {"t2i_r1": 0.60, "zero_shot_top1": 0.40},
        queries={"t2i_r1": 900},
        photos=300,
    )
    assert not verdict.helped
    assert "zero-shot kept only 80%: keep the current model" in verdict.text


def test_noise_shrinks_with_more_queries_and_has_a_floor() -> None:
    assert noise_points(0.5, 100) > noise_points(0.5, 1000)
    assert noise_points(0.99, 100000) == 1.0
