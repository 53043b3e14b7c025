"""What an indexing run takes and gives back: options, progress snapshots, cancel token, report.

These are the types the app's worker uses around :meth:`dclip_core.library.Library.index`:
``progress`` receives :class:`IndexProgress` (from the indexing thread), :class:`CancelToken` is set
from any thread and stops the run after the batch in flight is committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dclip_core.cancel import CancelToken
from dclip_core.library.ann import AnnParams
from dclip_core.library.scanner import ScanProblem

__all__ = ["CancelToken", "IndexOptions", "IndexProgress", "IndexReport", "Phase"]

Phase = Literal["scanning", "indexing", "cleaning", "done"]


@dataclass(frozen=True)
class IndexProgress:
    """A snapshot of a run, for progress bars.

    ``done``/``total`` count files (unchanged ones are done from the start, so a resumed run shows
    where it resumed); ``rate`` (files/s) and ``eta_s`` cover the files that need work.
    """

    phase: Phase
    done: int
    total: int
    rate: float
    eta_s: float | None
    embedded: int
    reused: int
    failed: int
    removed: int
    current: str | None = None


@dataclass
class IndexReport:
    """What a run did."""

    model_name: str
    model_fingerprint: str
    scanned: int = 0
    unchanged: int = 0
    embedded: int = 0
    moved: int = 0
    copied: int = 0
    touched: int = 0
    failed: int = 0
    removed: int = 0
    cancelled: bool = False
    model_complete: bool = False
    seconds: float = 0.0
    problems: list[ScanProblem] = field(default_factory=list)

    @property
    def reused(self) -> int:
        return self.moved + self.copied + self.touched


@dataclass(frozen=True)
class IndexOptions:
    """Tuning of a run; the defaults suit a laptop.

    Attributes:
        batch_size: images per ONNX call and per database commit; 0 = chosen by the provider
            (:func:`dclip_core.library.indexer.index_batch_size`: 8 on the CPU, 32 on a GPU).
        workers: decoding threads; 0 = one per CPU core
            (:func:`dclip_core.library.preparer.decode_workers`).
        thumbnails: write thumbnails into ``thumbnails_dir`` while indexing.
        thumbnail_size: their longest side in pixels.
        regions: region layout to index with (:mod:`dclip_core.library.regions`); None keeps
            the one the library's active model of the same bundle uses, else none.
    """

    batch_size: int = 0
    workers: int = 0
    thumbnails: bool = True
    thumbnail_size: int = 256
    regions: str | None = None
    ann_params: AnnParams = field(default_factory=AnnParams)
