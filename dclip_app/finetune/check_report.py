"""The Check page in data: ``dclip finetune --check-only``'s answer, ready to show (Qt-free).

The child sends a ``datacheck`` event (counts, problems, samples, warnings, ``lines`` in
sentences, and ``refused``: the one-line reason when nothing can be trained) and, when refused or
broken, an ``error`` event. :func:`read_check` turns those events into a :class:`CheckReport`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The warnings carry their own line; the problem facts are the lines after the first two.
_SUMMARY_LINES = 2


@dataclass(frozen=True)
class CheckReport:
    """What the data check found.

    Attributes:
        photos, captioned, trainable, captions: the counts.
        train, held_out: the split's sizes.
        problems: one sentence per kind of problem (photos left out, twins, long captions…).
        warnings: the check's warnings (the data is small, photos without caption…).
        samples: a few ``(photo, caption)`` training pairs.
        refused: the one-line reason nothing can be trained (None: the data is usable).
        estimate: the measured time estimate in words (device and time), when it was measured.
        estimate_error: why the estimate could not be measured (the data is still usable).
    """

    photos: int = 0
    captioned: int = 0
    trainable: int = 0
    captions: int = 0
    train: int = 0
    held_out: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    samples: list[tuple[Path, str]] = field(default_factory=list)
    refused: str | None = None
    estimate: str | None = None
    estimate_error: str | None = None

    @property
    def usable(self) -> bool:
        return self.refused is None

    def counts_line(self) -> str:
        return (
            f"{self.photos} photos found, {self.captioned} with a caption, {self.trainable} "
            f"usable ({self.captions} captions)"
        )

    def split_line(self) -> str:
        return f"{self.train} to train on, {self.held_out} held out to measure the result on"

    def split_at(self, fraction: float) -> tuple[int, int]:
        """``(train, held out)`` for another held-out share, counted as ``dclip finetune`` does
        (at least 2 held out; byte-identical twins may move one or two more to the held-out side).
        """
        usable = self.train + self.held_out
        held = min(usable, max(2, round(usable * fraction)))
        return usable - held, held


def read_check(events: Sequence[dict[str, Any]], failure: str = "") -> CheckReport:
    """The report from the child's events; ``failure`` is its error line when it sent none."""
    checks = [e for e in events if e.get("event") == "datacheck"]
    errors = [str(e.get("message")) for e in events if e.get("event") == "error"]
    if not checks:
        return CheckReport(refused=errors[-1] if errors else failure or "the check failed")
    check = checks[-1]
    estimates = [e for e in events if e.get("event") == "estimate"]
    if "refused" in check:
        # The check says whether it refused; a later error is the estimate's, not the data's.
        refused = check["refused"]
        estimate_error = errors[-1] if errors and not refused else None
    else:
        refused, estimate_error = errors[-1] if errors else None, None
    lines = [str(line) for line in check.get("lines") or []]
    return CheckReport(
        photos=int(check.get("photos", 0)),
        captioned=int(check.get("captioned", 0)),
        trainable=int(check.get("trainable", 0)),
        captions=int(check.get("captions", 0)),
        train=int(check.get("train", 0)),
        held_out=int(check.get("held_out", 0)),
        problems=[ln for ln in lines[_SUMMARY_LINES:] if not ln.startswith(("sample", "warning"))],
        warnings=[str(w) for w in check.get("warnings") or []],
        samples=[(Path(str(p)), str(c)) for p, c in check.get("samples") or []],
        refused=str(refused) if refused else None,
        estimate=str(estimates[-1].get("text")) if estimates else None,
        estimate_error=estimate_error,
    )
