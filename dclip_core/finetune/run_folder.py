"""A fine-tune's run folder: what it was asked, which stages finished, and their results.

::

    <run>/
      finetune.json     options, base model, and every finished stage with its result
      datacheck.json    the data check (complete lists)
      split.json        train and held-out records (path, captions, boxes), seed, fraction
      events.jsonl      every event of every attempt, appended (what the wizard shows)
      estimate.json     the measured time estimate
      teacher/          the teacher stage's run (run.json, checkpoints/, teacher.safetensors)
      student/          the student stage's run (run.json, checkpoints/, student.safetensors)
      eval.json         base vs fine-tuned on the held-out photos, and the verdict
      report.md         the same for people
      bundle/           the exported student bundle

A new run is assembled under a hidden ``.<name>.partial`` folder and renamed into place once the
check and the split are written, so a folder with the run's name is never half made. Runs are never
overwritten; a finished run (its ``export`` stage recorded) cannot be resumed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dclip_core import __version__
from dclip_core.config.paths import atomic_write_text, get_paths
from dclip_core.errors import TrainingError
from dclip_core.finetune.data import record_from_json, record_to_json
from dclip_core.finetune.datacheck import DataCheck, Split
from dclip_core.train.datasets import CaptionedImage
from dclip_core.train.recipes import Recipe

RUN_FORMAT = "dclip-finetune/1"
RUN_FILE = "finetune.json"
CHECK_FILE = "datacheck.json"
SPLIT_FILE = "split.json"
EVENTS_FILE = "events.jsonl"
STAGES = ("check", "split", "estimate", "teacher", "student", "evaluate", "export")


@dataclass(frozen=True)
class FinetuneOptions:
    """What a fine-tune was asked to do (kept in ``finetune.json``; a resume uses these)."""

    sources: list[str]
    model: str
    recipe: Recipe
    held_out: float = 0.2
    teacher_steps: int | None = None
    student_steps: int | None = None
    zeroshot: str | None = None
    zeroshot_template: str = "a photo of a {}"
    explain: bool = True
    estimate: bool = True
    bundle_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["recipe"] = self.recipe.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FinetuneOptions:
        values = dict(data)
        values["recipe"] = Recipe.from_json(values["recipe"])
        return cls(**values)


def default_run_dir() -> Path:
    """``<data dir>/finetune/<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``… when that exists)."""
    root = get_paths().data_dir / "finetune"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate, number = root / stamp, 1
    while candidate.exists():
        number += 1
        candidate = root / f"{stamp}-{number}"
    return candidate


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False))


class FinetuneRun:
    """An existing run folder (use :func:`create_run` or :func:`open_run`)."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self._data = data
        self.options = FinetuneOptions.from_json(data["options"])

    @property
    def base_model(self) -> str:
        return str(self._data["base_model"])

    @property
    def finished_stages(self) -> list[str]:
        return [s for s in STAGES if s in self._data["stages"]]

    @property
    def is_finished(self) -> bool:
        return STAGES[-1] in self._data["stages"]

    def result(self, stage: str) -> dict[str, Any]:
        """The recorded result of a finished stage.

        Raises:
            TrainingError: the stage has not finished.
        """
        try:
            return dict(self._data["stages"][stage]["result"])
        except KeyError:
            raise TrainingError(f"run {self.path}: stage {stage!r} has not finished") from None

    def record(self, stage: str, result: dict[str, Any]) -> None:
        """Mark ``stage`` finished with ``result`` (written atomically before returning)."""
        self._data["stages"][stage] = {"finished": _now(), "result": result}
        _write_json(self.path / RUN_FILE, self._data)

    def split(self) -> tuple[list[CaptionedImage], list[CaptionedImage]]:
        data = json.loads((self.path / SPLIT_FILE).read_text(encoding="utf-8"))
        return (
            [record_from_json(r) for r in data["train"]],
            [record_from_json(r) for r in data["held_out"]],
        )


def create_run(
    path: Path,
    options: FinetuneOptions,
    base_model: str,
    check: DataCheck,
    split: Split,
    events: Sequence[dict[str, Any]] = (),
) -> FinetuneRun:
    """Write a new run folder with its check and split recorded (the two first stages).

    Raises:
        TrainingError: ``path`` exists (runs are never overwritten).
    """
    if path.exists():
        raise TrainingError(
            f"{path} already exists and runs are never overwritten; give another --out, or "
            f"continue it with --resume {path}"
        )
    partial = path.parent / f".{path.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _write_json(partial / CHECK_FILE, check.to_json())
    _write_json(
        partial / SPLIT_FILE,
        {
            "seed": split.seed,
            "fraction": split.fraction,
            "train": [record_to_json(r) for r in split.train],
            "held_out": [record_to_json(r) for r in split.held_out],
        },
    )
    with (partial / EVENTS_FILE).open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in events)
    data = {
        "format": RUN_FORMAT,
        "dclip_version": __version__,
        "created": _now(),
        "pid": os.getpid(),
        "options": options.to_json(),
        "base_model": base_model,
        "stages": {
            "check": {"finished": _now(), "result": {"file": CHECK_FILE, **_check_summary(check)}},
            "split": {
                "finished": _now(),
                "result": {
                    "file": SPLIT_FILE,
                    "train": len(split.train),
                    "held_out": len(split.held_out),
                    "seed": split.seed,
                },
            },
        },
    }
    _write_json(partial / RUN_FILE, data)
    partial.rename(path)
    return FinetuneRun(path, data)


def _check_summary(check: DataCheck) -> dict[str, Any]:
    return {
        "photos": check.photos,
        "trainable": check.trainable,
        "without_caption": len(check.without_caption),
        "unreadable": len(check.unreadable),
        "warnings": len(check.warnings),
    }


def open_run(path: Path) -> FinetuneRun:
    """An unfinished run to resume.

    Raises:
        TrainingError: not a fine-tune run folder, damaged, or already finished.
    """
    file = path / RUN_FILE
    if not file.is_file():
        raise TrainingError(f"{path} is not a fine-tune run folder ({RUN_FILE} is missing)")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TrainingError(f"{file} is damaged ({exc}); start a new run") from exc
    if data.get("format") != RUN_FORMAT:
        raise TrainingError(f"{file} is not a {RUN_FORMAT} run; start a new run")
    run = FinetuneRun(path, data)
    if run.is_finished:
        bundle = run.result(STAGES[-1]).get("bundle")
        raise TrainingError(
            f"run {path} is finished (bundle {bundle}); nothing to resume: start a new run to "
            "train again"
        )
    return run
