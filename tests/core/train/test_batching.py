"""Deterministic batching: the same batches after a resume and across DDP ranks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from dclip_core.train.batching import choose_caption, epoch_order, micro_batches, rank_share
from dclip_core.train.distributed import DistContext


@dataclass
class Record:
    path: Path
    captions: list[str]


def test_epoch_order_depends_only_on_seed_and_epoch() -> None:
    assert epoch_order(50, 42, 3) == epoch_order(50, 42, 3)
    assert epoch_order(50, 42, 3) != epoch_order(50, 42, 4)
    assert sorted(epoch_order(50, 42, 0)) == list(range(50))


def test_caption_draws_are_uniform_and_repeatable() -> None:
    record = Record(Path("x.jpg"), ["a", "b", "c", "d"])
    draws = [choose_caption(record, 42, epoch, 7) for epoch in range(400)]
    assert draws == [choose_caption(record, 42, epoch, 7) for epoch in range(400)]
    counts = {c: draws.count(c) for c in record.captions}
    assert min(counts.values()) > 60  # ~100 each


def test_short_last_batch_is_trimmed_to_the_world_size() -> None:
    order = list(range(11))
    assert [len(b) for b in micro_batches(order, 4, 1)] == [4, 4, 3]
    assert [len(b) for b in micro_batches(order, 4, 2)] == [4, 4, 2]
    assert [len(b) for b in micro_batches(list(range(9)), 4, 4)] == [4, 4]


def test_ranks_take_contiguous_shares_in_rank_order() -> None:
    batch = [9, 3, 5, 1, 0, 2]
    shares = [
        rank_share(batch, DistContext(rank, 3, rank, torch.device("cpu"))) for rank in range(3)
    ]
    assert shares == [[9, 3], [5, 1], [0, 2]]
