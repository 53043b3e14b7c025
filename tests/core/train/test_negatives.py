"""Hard-negative captions: one binding swapped, the same on every call, none when nothing swaps."""

from __future__ import annotations

from pathlib import Path

from dclip_core.shapes.scenes import describe
from dclip_core.shapes.world import scenes_by_file
from dclip_core.train.negatives import candidate_negatives, hard_negative
from tests.helpers.method_data import shapes_records


def test_two_colours_trade_places() -> None:
    assert "a blue car in front of a red house" in candidate_negatives(
        "a red car in front of a blue house"
    )


def test_two_sizes_trade_places_and_keep_their_capital() -> None:
    assert "Large dog beside a small cat" in candidate_negatives("Small dog beside a large cat")


def test_every_relation_of_a_chain_turns_at_once() -> None:
    negatives = candidate_negatives("a star left of a circle left of a cross")
    assert "a star right of a circle right of a cross" in negatives
    assert candidate_negatives("a cup on top of a box, a ball Behind a chair")[0] == (
        "a cup underneath a box, a ball In front of a chair"
    )


def test_the_longest_relation_phrase_is_matched() -> None:
    assert candidate_negatives("a cat to the left of a dog")[0] == "a cat to the right of a dog"


def test_the_two_things_a_relation_joins_trade_places() -> None:
    assert candidate_negatives("A dog to the left of a red car, on the street") == [
        "A dog to the right of a red car, on the street",
        "A red car to the left of a dog, on the street",  # the capital stays at the start
    ]
    # Each relation of a chain joins its own pair; a comma ends a phrase.
    assert candidate_negatives("a cup on top of a box, a ball behind a chair")[1:] == [
        "a box on top of a cup, a ball behind a chair",
        "a cup on top of a box, a chair behind a ball",
    ]


def test_any_two_of_a_chain_or_an_ordered_list_trade_places() -> None:
    assert candidate_negatives("From left to right: a cat, a dog and a cow.") == [
        "From left to right: a dog, a cat and a cow.",
        "From left to right: a cow, a dog and a cat.",
        "From left to right: a cat, a cow and a dog.",
    ]
    assert candidate_negatives("a star left of a circle left of a cross")[1:] == [
        "a circle left of a star left of a cross",
        "a cross left of a circle left of a star",
        "a star left of a cross left of a circle",
    ]


def test_a_relation_between_two_of_the_same_is_no_negative() -> None:
    # Flipped or swapped, "a red circle left of a red circle" says the same.
    assert candidate_negatives("a red circle left of a red circle") == []
    # Without a phrase on both sides only the relation turns.
    assert candidate_negatives("a cat sitting left of it") == ["a cat sitting right of it"]


def test_a_caption_with_nothing_to_swap_has_no_negative() -> None:
    assert candidate_negatives("a dog on the beach at sunset") == []
    assert candidate_negatives("a red cup and a red plate") == []  # one colour: nothing to trade
    assert hard_negative("a dog on the beach at sunset") is None
    assert hard_negative("") is None


def test_words_inside_other_words_are_not_swapped() -> None:
    # "reddish" and "bluebird" are not the colours red and blue; "belowground" is no relation.
    assert candidate_negatives("a reddish bluebird belowground") == []


def test_the_choice_is_the_same_on_every_call_and_among_the_candidates() -> None:
    caption = "a small red circle left of a large blue star"
    chosen = {hard_negative(caption) for _ in range(5)}
    assert len(chosen) == 1
    assert chosen <= set(candidate_negatives(caption))
    assert caption not in candidate_negatives(caption)


def test_each_draw_takes_the_next_candidate() -> None:
    caption = "a small red circle left of a large blue star"
    candidates = candidate_negatives(caption)
    draws = [hard_negative(caption, draw) for draw in range(len(candidates))]
    assert sorted(draws) == sorted(candidates)  # every candidate once per cycle
    assert hard_negative(caption, len(candidates)) == draws[0]


def test_every_colour_swap_the_shapes_benchmark_asks_about_is_a_training_negative(
    tmp_path: Path,
) -> None:
    """The shapes world's own hard negatives that trade two colours are among ours."""
    shapes_records(tmp_path, 40)
    scenes = [s for s in scenes_by_file(tmp_path).values() if s.hard_negative]
    colour_swaps = [
        s
        for s in scenes
        if sorted(describe(s.objects).split(" left of "))
        != sorted((s.hard_negative or "").split(" left of "))
    ]
    assert colour_swaps
    for scene in colour_swaps:
        assert scene.hard_negative in candidate_negatives(describe(scene.objects))


def test_every_hard_negative_of_the_shapes_benchmark_is_a_training_negative(
    tmp_path: Path,
) -> None:
    """The shapes world's own hard negatives — two colours traded, or two objects in the other
    order — are among ours for the caption it scores them against."""
    shapes_records(tmp_path, 40)
    scenes = [s for s in scenes_by_file(tmp_path).values() if s.hard_negative]
    assert any(
        sorted(describe(s.objects).split(" left of "))
        == sorted((s.hard_negative or "").split(" left of "))
        for s in scenes
    )  # some trade places
    for scene in scenes:
        assert scene.hard_negative in candidate_negatives(describe(scene.objects))
