"""Deterministic batching: which samples, with which caption, on which rank.

The order of an epoch is a permutation drawn from ``(seed, epoch)`` and the caption of a sample
from ``(seed, epoch, index)``, so neither depends on how many batches ran before (exact resume) or
on which rank runs them (N DDP processes see exactly the batches of one process).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from dclip_core.train.distributed import DistContext


class CaptionedRecord(Protocol):
    """A training image with its captions (``CaptionedImage`` of the dataset readers is one)."""

    @property
    def path(self) -> Path: ...

    @property
    def captions(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class Example:
    """One sample of a step: the record, the caption drawn for it, its dataset index and the
    epoch it was drawn in."""

    record: CaptionedRecord
    caption: str
    index: int
    epoch: int = 0


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The sample order of an epoch, the same on every rank and after every resume."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).tolist()


def choose_caption(record: CaptionedRecord, seed: int, epoch: int, index: int) -> str:
    """One caption drawn uniformly for ``record`` at ``epoch`` (the paper's random caption)."""
    captions = record.captions
    if len(captions) == 1:
        return captions[0]
    rng = np.random.default_rng([seed, epoch, index])
    return captions[int(rng.integers(len(captions)))]


def micro_batches(order: Sequence[int], batch_size: int, world_size: int) -> list[list[int]]:
    """Split an epoch into global micro-batches; a short last batch is trimmed to a multiple of
    the world size so every rank gets the same number of samples (it is dropped if that is 0)."""
    batches = [list(order[i : i + batch_size]) for i in range(0, len(order), batch_size)]
    if batches and len(batches[-1]) % world_size:
        keep = len(batches[-1]) - len(batches[-1]) % world_size
        batches[-1] = batches[-1][:keep]
        if not batches[-1]:
            batches.pop()
    return batches


def rank_share(batch: Sequence[int], ctx: DistContext) -> list[int]:
    """This rank's contiguous slice of a global batch (rank order = single-process order)."""
    per_rank = len(batch) // ctx.world_size
    return list(batch[ctx.rank * per_rank : (ctx.rank + 1) * per_rank])
