"""Follow a run's ``events.jsonl`` as it grows (Qt-free).

The fine-tune child appends one JSON object per line to ``<run>/events.jsonl`` (opening the file
for each event), so a reader may meet the last line half written: :class:`EventTail` hands out only
complete lines and keeps its byte offset, so the next read starts where this one stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_FILE = "events.jsonl"


class EventTail:
    """The new complete events of one ``events.jsonl`` since the last :meth:`read`."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self.offset = offset

    def read(self) -> list[dict[str, Any]]:
        """Events appended since the last call (none while the file does not exist yet)."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        events = []
        for raw in data[: end + 1].splitlines():
            try:
                event = json.loads(raw.decode("utf-8", errors="replace"))
            except json.JSONDecodeError:
                continue  # a line cut by a crash mid-write: the next attempt's lines follow it
            if isinstance(event, dict):
                events.append(event)
        return events

    def size(self) -> int:
        """The file's current size in bytes (0 while it does not exist)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0
