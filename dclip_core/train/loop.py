"""The training loop both DCLIP stages share.

It owns everything that is not the model: deterministic batching, gradient accumulation and
clipping, mixed precision on CUDA, DDP, checkpoints every N steps and at epoch ends, exact resume,
Ctrl-C/SIGTERM, NaN detection and progress events. A stage plugs in through :class:`TrainTask`.

Exact resume and the DDP-equals-one-process guarantee rest on :mod:`dclip_core.train.batching`:
data order and caption draws are pure functions of the seed, the epoch and the sample index.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal, Protocol

import torch
from torch import nn

from dclip_core.cancel import CancelToken
from dclip_core.errors import TrainingError
from dclip_core.train.batching import (
    CaptionedRecord,
    Example,
    choose_caption,
    epoch_order,
    micro_batches,
    rank_share,
)
from dclip_core.train.checkpoint import (
    DataPosition,
    LoadedCheckpoint,
    save_checkpoint,
)
from dclip_core.train.distributed import DistContext, all_reduce_mean, any_rank
from dclip_core.train.events import EventSink
from dclip_core.train.losses import LossTerms
from dclip_core.train.optim import build_optimizer, build_scheduler, resolve_precision


class TrainTask(Protocol):
    """A stage of the method, as the loop sees it."""

    stage: str

    def train_module(self) -> nn.Module:
        """The module whose forward runs under DDP and whose parameters are optimised."""
        ...

    def compute_loss(self, module: nn.Module, examples: Sequence[Example]) -> LossTerms:
        """The loss of a micro-batch, running the forward pass through ``module``."""
        ...

    def checkpoint_weights(self) -> dict[str, torch.Tensor]:
        """The tensors a checkpoint stores (what training changes)."""
        ...

    def load_checkpoint_weights(self, weights: dict[str, torch.Tensor]) -> None: ...


@dataclass(frozen=True)
class LoopConfig:
    """What the loop needs from a stage recipe."""

    epochs: int
    batch_size: int
    grad_accum: int = 1
    grad_clip: float | None = None
    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-5
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    schedule: Literal["constant", "cosine", "linear"] = "constant"
    warmup_steps: int = 0
    seed: int = 42
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    max_steps: int | None = None


@dataclass
class TrainingResult:
    """How a run ended and its loss curve."""

    status: Literal["done", "stopped"]
    position: DataPosition
    history: list[dict[str, float]] = field(default_factory=list)
    val_history: list[dict[str, float]] = field(default_factory=list)
    last_checkpoint: Path | None = None
    stop_signal: str | None = None


class _StopRequest:
    """Set by SIGINT/SIGTERM, or by a :class:`CancelToken`; the loop checks it between
    micro-batches."""

    def __init__(self, cancel: CancelToken | None = None) -> None:
        self.signal_name: str | None = None
        self.cancel = cancel

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name

    @property
    def reason(self) -> str | None:
        """``"SIGINT"``/``"SIGTERM"``, ``"cancel"``, or None while nobody asked to stop."""
        if self.signal_name is None and self.cancel is not None and self.cancel.cancelled:
            return "cancel"
        return self.signal_name


class _StepClock:
    """Throughput since the last step and the ETA from the mean step time of this run."""

    def __init__(self, start_step: int) -> None:
        self.start_step = start_step
        self.started = self.window_start = time.perf_counter()
        self.samples = 0  # trained since the last step

    def tick(self, step: int, total_steps: int) -> tuple[float, float]:
        """Samples/s of the step just done and seconds left; resets the sample count."""
        now = time.perf_counter()
        rate = self.samples / max(now - self.window_start, 1e-9)
        self.window_start, self.samples = now, 0
        per_step = (now - self.started) / max(step - self.start_step, 1)
        return rate, per_step * (total_steps - step)


@contextlib.contextmanager
def _stop_on_signals(stop: _StopRequest) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


class TrainingLoop:
    """Runs a :class:`TrainTask` over a dataset.

    Args:
        task: the stage.
        train_set, val_set: records; ``val_set`` may be empty (no validation).
        cfg: optimisation values of the stage.
        run_dir: where checkpoints go.
        events: progress sink.
        ctx: the distributed context (single process by default).
        meta: extra fields stored in every checkpoint's JSON (model, recipe …).
    """

    def __init__(
        self,
        task: TrainTask,
        train_set: Sequence[CaptionedRecord],
        val_set: Sequence[CaptionedRecord],
        cfg: LoopConfig,
        run_dir: Path,
        events: EventSink,
        ctx: DistContext,
        meta: dict[str, Any] | None = None,
    ) -> None:
        if cfg.batch_size % ctx.world_size:
            raise TrainingError(
                f"batch size {cfg.batch_size} is not divisible by the {ctx.world_size} processes; "
                "choose a batch size that is a multiple of --nproc-per-node"
            )
        if len(train_set) < ctx.world_size:
            raise TrainingError(f"only {len(train_set)} training samples; need at least a few")
        self.task = task
        self.train_set = train_set
        self.val_set = val_set
        self.cfg = cfg
        self.run_dir = run_dir
        self.events = events
        self.ctx = ctx
        self.meta = dict(meta or {})
        module = task.train_module().to(ctx.device)
        self.params = [p for p in module.parameters() if p.requires_grad]
        if not self.params:
            raise TrainingError(f"{task.stage}: nothing to train (every parameter is frozen)")
        self.module: nn.Module = module
        if ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.module = DistributedDataParallel(
                module, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None
            )
        self.batches_per_epoch = len(
            micro_batches(range(len(train_set)), cfg.batch_size, ctx.world_size)
        )
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / cfg.grad_accum)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        if cfg.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.optimizer = build_optimizer(self.params, cfg)
        self.scheduler = build_scheduler(self.optimizer, cfg, self.total_steps)
        self.autocast_dtype = resolve_precision(cfg.precision, ctx.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.autocast_dtype is torch.float16)
        self.position = DataPosition()
        self.last_checkpoint: Path | None = None
        # the same on every rank (only rank 0 knows the path), so all ranks agree on saving
        self.saved_step: int | None = None

    # --- state ----------------------------------------------------------------------------------

    def restore(self, checkpoint: LoadedCheckpoint) -> None:
        """Resume exactly where ``checkpoint`` stopped (weights, optimizer, schedule, RNG, data)."""
        self.task.load_checkpoint_weights(
            {k: v.to(self.ctx.device) for k, v in checkpoint.weights.items()}
        )
        trainer = checkpoint.trainer
        self.optimizer.load_state_dict(trainer["optimizer"])
        self.scheduler.load_state_dict(trainer["scheduler"])
        if "scaler" in trainer:
            self.scaler.load_state_dict(trainer["scaler"])
        _set_rng_state(trainer["rng"], self.ctx.device)
        self.position = checkpoint.position
        self.last_checkpoint = checkpoint.path
        self.saved_step = checkpoint.position.step

    def save(self, reason: str) -> Path | None:
        """Checkpoint the current step (rank 0 writes; every rank waits for it)."""
        path: Path | None = None
        if self.ctx.is_main:
            path = save_checkpoint(
                self.run_dir,
                weights=self.task.checkpoint_weights(),
                trainer={
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "scaler": self.scaler.state_dict(),
                    "rng": _rng_state(self.ctx.device),
                },
                position=self.position,
                meta={"stage": self.task.stage, "reason": reason, **self.meta},
                keep=self.cfg.keep_checkpoints,
            )
            self.events.emit(
                "checkpoint",
                stage=self.task.stage,
                step=self.position.step,
                epoch=self.position.epoch,
                reason=reason,
                path=str(path),
            )
        if self.ctx.distributed:
            torch.distributed.barrier()
        self.last_checkpoint = path or self.last_checkpoint
        self.saved_step = self.position.step
        return path

    # --- steps ----------------------------------------------------------------------------------

    def _examples(self, indices: Sequence[int], epoch: int) -> list[Example]:
        return [
            Example(
                record=self.train_set[i],
                caption=choose_caption(self.train_set[i], self.cfg.seed, epoch, i),
                index=i,
                epoch=epoch,
            )
            for i in indices
        ]

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.autocast_dtype)

    def _micro_step(self, examples: Sequence[Example], sync: bool) -> dict[str, float]:
        no_sync = getattr(self.module, "no_sync", None)
        sync_ctx = no_sync() if (no_sync is not None and not sync) else contextlib.nullcontext()
        with sync_ctx:
            with self._autocast():
                terms = self.task.compute_loss(self.module, examples)
            self.scaler.scale(terms.total / self.cfg.grad_accum).backward()
        names = sorted(terms.as_floats())
        local = torch.tensor([terms.as_floats()[n] for n in names], dtype=torch.float64)
        reduced = all_reduce_mean(local.to(self.ctx.device), self.ctx).cpu()
        return dict(zip(names, reduced.tolist(), strict=True))

    def _optimizer_step(self) -> float | None:
        grad_norm: float | None = None
        if self.cfg.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return grad_norm

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean loss terms over the validation set (first caption of each image, fixed order)."""
        if not self.val_set:
            return {}
        self.module.eval()
        totals: dict[str, float] = {}
        count = 0
        order = list(range(len(self.val_set)))
        for batch in micro_batches(order, self.cfg.batch_size, self.ctx.world_size):
            share = rank_share(batch, self.ctx)
            examples = [Example(self.val_set[i], self.val_set[i].captions[0], i) for i in share]
            with self._autocast():
                terms = self.task.compute_loss(self.module, examples)
            names = sorted(terms.as_floats())
            local = torch.tensor([terms.as_floats()[n] for n in names], dtype=torch.float64)
            values = all_reduce_mean(local.to(self.ctx.device), self.ctx).cpu().tolist()
            for name, value in zip(names, values, strict=True):
                totals[name] = totals.get(name, 0.0) + value * len(batch)
            count += len(batch)
        self.module.train()
        return {name: value / max(count, 1) for name, value in totals.items()}

    def run(self, cancel: CancelToken | None = None) -> TrainingResult:
        """Train until the recipe's epochs (or ``max_steps``) are done, or until SIGINT/SIGTERM or
        ``cancel`` stops it (then the last step is checkpointed and ``status`` is ``"stopped"``).
        """
        result = TrainingResult(status="done", position=self.position)
        stop = _StopRequest(cancel)
        self.module.train()
        self._emit_start()
        clock = _StepClock(self.position.step)
        with _stop_on_signals(stop):
            while (
                result.status == "done"
                and self.position.epoch < self.cfg.epochs
                and self.position.step < self.total_steps
            ):
                finished_epoch = self._run_epoch(self.position.epoch, result, stop, clock)
                if not finished_epoch:
                    break  # stopped, or max_steps reached inside the epoch
                self._end_epoch(self.position.epoch, result)
        self._finish(result)
        return result

    def _emit_start(self) -> None:
        self.events.emit(
            "start",
            stage=self.task.stage,
            total_steps=self.total_steps,
            epochs=self.cfg.epochs,
            train_samples=len(self.train_set),
            val_samples=len(self.val_set),
            world_size=self.ctx.world_size,
            device=str(self.ctx.device),
            resumed_from=str(self.last_checkpoint) if self.last_checkpoint else None,
            step=self.position.step,
        )

    def _run_epoch(
        self, epoch: int, result: TrainingResult, stop: _StopRequest, clock: _StepClock
    ) -> bool:
        """Train the rest of ``epoch`` from ``self.position.batch``.

        Returns:
            True when every batch of the epoch was trained; False when a stop request or
            ``max_steps`` ended it early (``result.status`` says which).
        """
        batches = micro_batches(
            epoch_order(len(self.train_set), self.cfg.seed, epoch),
            self.cfg.batch_size,
            self.ctx.world_size,
        )
        accumulated: list[dict[str, float]] = []
        batch_index = self.position.batch
        while batch_index < len(batches) and self.position.step < self.total_steps:
            # an epoch's leftover micro-batches make one last, shorter accumulation
            is_last_of_step = (
                len(accumulated) + 1 == self.cfg.grad_accum or batch_index + 1 == len(batches)
            )
            share = rank_share(batches[batch_index], self.ctx)
            terms = self._micro_step(self._examples(share, epoch), sync=is_last_of_step)
            if not all(math.isfinite(v) for v in terms.values()):
                self._fail_non_finite(terms, epoch, batch_index)
            accumulated.append(terms)
            clock.samples += len(batches[batch_index])
            batch_index += 1
            if is_last_of_step:
                step_samples = sum(
                    len(b) for b in batches[batch_index - len(accumulated) : batch_index]
                )
                self._complete_step(epoch, batch_index, step_samples, accumulated, result, clock)
                accumulated = []
            if any_rank(stop.reason is not None, self.ctx):
                # Partial accumulation is discarded: the checkpoint holds the last step.
                self.optimizer.zero_grad(set_to_none=True)
                result.status = "stopped"
                result.stop_signal = stop.reason or "signal"
                return False
        return batch_index >= len(batches)

    def _complete_step(
        self,
        epoch: int,
        batch_index: int,
        step_samples: int,
        accumulated: list[dict[str, float]],
        result: TrainingResult,
        clock: _StepClock,
    ) -> None:
        """Apply the accumulated gradients, advance the position, report, maybe checkpoint."""
        grad_norm = self._optimizer_step()
        self.position = DataPosition(
            epoch=epoch,
            batch=batch_index,
            step=self.position.step + 1,
            samples=self.position.samples + step_samples,
        )
        mean_terms = {k: sum(t[k] for t in accumulated) / len(accumulated) for k in accumulated[0]}
        rate, eta_s = clock.tick(self.position.step, self.total_steps)
        record = {"step": self.position.step, **mean_terms}
        result.history.append(record)
        self.events.emit(
            "step",
            stage=self.task.stage,
            epoch=epoch,
            total_steps=self.total_steps,
            lr=self.scheduler.get_last_lr()[0],
            samples_per_s=round(rate, 3),
            eta_s=round(eta_s, 1),
            grad_norm=grad_norm,
            **record,
        )
        if self.cfg.checkpoint_every and self.position.step % self.cfg.checkpoint_every == 0:
            self.save("every")

    def _end_epoch(self, epoch: int, result: TrainingResult) -> None:
        """Move to the next epoch, validate, and checkpoint."""
        self.position = DataPosition(
            epoch=epoch + 1, batch=0, step=self.position.step, samples=self.position.samples
        )
        val = self.validate()
        if val:
            result.val_history.append({"epoch": epoch, **val})
            self.events.emit(
                "eval",
                stage=self.task.stage,
                epoch=epoch,
                step=self.position.step,
                **{f"val_{k}": v for k, v in val.items()},
            )
        self.events.emit("epoch", stage=self.task.stage, epoch=epoch, step=self.position.step)
        self.save("epoch")

    def _finish(self, result: TrainingResult) -> None:
        """Checkpoint the last step (unless the epoch's checkpoint already holds it)."""
        if result.status == "stopped":
            self.save("stopped")
            self.events.emit(
                "stopped",
                stage=self.task.stage,
                step=self.position.step,
                signal=result.stop_signal,
                checkpoint=str(self.last_checkpoint) if self.last_checkpoint else None,
            )
        elif self.saved_step != self.position.step:
            self.save("end")
        result.position = self.position
        result.last_checkpoint = self.last_checkpoint

    def _fail_non_finite(self, terms: dict[str, float], epoch: int, batch: int) -> None:
        bad = ", ".join(f"{k}={v}" for k, v in terms.items() if not math.isfinite(v))
        where = f"step {self.position.step + 1} (epoch {epoch + 1}, batch {batch + 1})"
        kept = (
            f"the last good checkpoint is {self.last_checkpoint}"
            if self.last_checkpoint
            else "no checkpoint was written yet"
        )
        message = (
            f"{self.task.stage} training stopped: the loss is not finite at {where} ({bad}); "
            f"{kept}. Lower the learning rate or check the data (damaged region cache entries "
            "or images), then resume with --resume"
        )
        self.events.emit("error", stage=self.task.stage, step=self.position.step, message=message)
        raise TrainingError(message)
