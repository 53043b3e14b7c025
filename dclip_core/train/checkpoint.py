"""Training checkpoints: weights in safetensors, trainer state in a weights-only torch file.

A checkpoint is a folder ``<run>/checkpoints/step-00000120/`` holding

- ``weights.safetensors`` — the trained tensors (the teacher, or the student's trainable params);
- ``trainer.pt`` — optimizer, scheduler, grad-scaler and RNG state and the data position, saved
  with ``torch.save`` and read back with ``torch.load(weights_only=True)``, so opening a
  checkpoint never unpickles code;
- ``checkpoint.json`` — what it is (stage, step, epoch, metrics), for people and tools.

Folders are written under a temporary name and renamed into place, and ``<run>/checkpoints/latest``
names the newest complete one, so a crash mid-save leaves the previous checkpoint usable.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dclip_core.config.paths import atomic_write_text
from dclip_core.errors import TrainingError

WEIGHTS_FILE = "weights.safetensors"
TRAINER_FILE = "trainer.pt"
META_FILE = "checkpoint.json"
LATEST_FILE = "latest"


@dataclass
class DataPosition:
    """Where training stands: the next micro-batch to run, optimizer steps taken so far."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    samples: int = 0


@dataclass
class LoadedCheckpoint:
    path: Path
    weights: dict[str, torch.Tensor]
    trainer: dict[str, Any]
    meta: dict[str, Any]

    @property
    def position(self) -> DataPosition:
        return DataPosition(**self.trainer["position"])


def save_weights(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write ``tensors`` as safetensors atomically (CPU, contiguous copies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(
        {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()},
        str(tmp),
        metadata=metadata,
    )
    tmp.replace(path)


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file.

    Raises:
        TrainingError: missing or corrupt file, naming it.
    """
    if not path.is_file():
        raise TrainingError(f"weights file {path} does not exist")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise TrainingError(
            f"weights file {path} is corrupt or truncated ({exc}); use an earlier checkpoint"
        ) from exc


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def save_checkpoint(
    run_dir: Path,
    *,
    weights: dict[str, torch.Tensor],
    trainer: dict[str, Any],
    position: DataPosition,
    meta: dict[str, Any],
    keep: int = 3,
) -> Path:
    """Save a checkpoint of ``position.step`` and make it the latest; keep the ``keep`` newest."""
    root = checkpoint_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{position.step:08d}"
    final = root / name
    tmp = root / f".{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_weights(tmp / WEIGHTS_FILE, weights, {"stage": str(meta.get("stage", ""))})
    torch.save({**trainer, "position": asdict(position)}, tmp / TRAINER_FILE)
    (tmp / META_FILE).write_text(
        json.dumps({**meta, "position": asdict(position)}, indent=2), encoding="utf-8"
    )
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    atomic_write_text(root / LATEST_FILE, name + "\n")
    existing = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in existing[: max(0, len(existing) - keep)]:
        shutil.rmtree(old)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None when it has none."""
    root = checkpoint_dir(run_dir)
    pointer = root / LATEST_FILE
    if pointer.is_file():
        candidate = root / pointer.read_text(encoding="utf-8").strip()
        if (candidate / META_FILE).is_file():
            return candidate
    complete = sorted(p for p in root.glob("step-*") if (p / META_FILE).is_file())
    return complete[-1] if complete else None


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Read a checkpoint folder without unpickling anything but tensors and plain containers.

    Raises:
        TrainingError: a missing or damaged file, named in the message.
    """
    for file in (WEIGHTS_FILE, TRAINER_FILE, META_FILE):
        if not (path / file).is_file():
            raise TrainingError(f"checkpoint {path} is incomplete: {file} is missing")
    try:
        trainer = torch.load(path / TRAINER_FILE, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for damaged pickles
        raise TrainingError(
            f"checkpoint file {path / TRAINER_FILE} cannot be read ({exc}); use an earlier one"
        ) from exc
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TrainingError(f"checkpoint file {path / META_FILE} is damaged: {exc}") from exc
    return LoadedCheckpoint(
        path=path, weights=load_weights(path / WEIGHTS_FILE), trainer=trainer, meta=meta
    )
