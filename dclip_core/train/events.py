"""Training progress as events: JSON lines for programs, short lines for people.

With ``--events jsonl`` every event is one JSON object on stdout, flushed at once, so the app's
wizard (which runs training in a separate process) can follow it::

    {"event": "step", "stage": "teacher", "step": 12, "epoch": 0, "loss": 2.1, "lr": 1e-05, ...}

Event names: ``start``, ``step``, ``eval``, ``checkpoint``, ``epoch``, ``stopped`` (Ctrl-C /
SIGTERM, after the checkpoint is saved), ``done`` and ``error``. Only rank 0 of a DDP run writes.
Without ``--events`` the same events are printed as short human-readable lines on stderr.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from typing import Any, Literal, TextIO

EventMode = Literal["jsonl", "text", "none"]
EventListener = Callable[[dict[str, Any]], None]


def _json_safe(value: Any) -> Any:
    # JSON has no NaN/inf; a NaN loss must still reach the wizard as something it can parse.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


class EventSink:
    """Writes training events.

    Args:
        mode: ``jsonl`` (stdout, machine-readable), ``text`` (stderr, for people) or ``none``.
        enabled: False on DDP ranks other than 0.
        listeners: in-process callbacks that receive every event (the tests and benchmarks).
    """

    def __init__(
        self,
        mode: EventMode = "text",
        *,
        enabled: bool = True,
        listeners: list[EventListener] | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.mode = mode
        self.enabled = enabled
        self.listeners = list(listeners or [])
        self._stream = stream

    def emit(self, event: str, **fields: Any) -> None:
        """Publish one event with its fields (numbers, strings, lists, dicts)."""
        record = {"event": event, "time": round(time.time(), 3), **_json_safe(fields)}
        for listener in self.listeners:
            listener(record)
        if not self.enabled or self.mode == "none":
            return
        if self.mode == "jsonl":
            stream = self._stream or sys.stdout
            stream.write(json.dumps(record) + "\n")
            stream.flush()
        else:
            stream = self._stream or sys.stderr
            stream.write(format_event(record) + "\n")
            stream.flush()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_event(record: dict[str, Any]) -> str:
    """A one-line human-readable rendering of an event."""
    event = record["event"]
    stage = record.get("stage", "")
    if event == "step":
        losses = " ".join(
            f"{k}={_fmt(record[k])}"
            for k in ("loss", "image", "text", "contrastive")
            if k in record
        )
        eta = record.get("eta_s")
        eta_text = f" eta {eta / 60:.1f} min" if isinstance(eta, (int, float)) else ""
        return (
            f"[{stage}] epoch {record.get('epoch', 0) + 1} step {record.get('step')}/"
            f"{record.get('total_steps')} {losses} lr={_fmt(record.get('lr'))} "
            f"{_fmt(record.get('samples_per_s', 0.0))} samples/s{eta_text}"
        )
    details = " ".join(
        f"{k}={_fmt(v)}" for k, v in record.items() if k not in ("event", "time", "stage")
    )
    return f"[{stage}] {event} {details}".rstrip()
