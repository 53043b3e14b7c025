"""The ``dclip`` command lines the wizard runs, and what their answers mean (Qt-free).

Every child goes through :func:`~dclip_core.config.processes.dclip_command`, so the wizard works
the same from a checkout, a wheel and a frozen build (ADR 0018).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dclip_app.finetune.recipes import RecipeChoice
from dclip_core.config.processes import dclip_command


def check_command(
    sources: Sequence[str], model: str | None, extra: Sequence[str] = ()
) -> list[str]:
    """``dclip finetune --check-only --estimate --events jsonl --data …``: the check, then a few
    measured training steps for the time estimate (no run is written)."""
    return dclip_command(
        "finetune",
        "--check-only",
        "--estimate",
        "--events",
        "jsonl",
        *_data_args(sources, model),
        *extra,
    )


def train_command(
    sources: Sequence[str],
    model: str | None,
    run_dir: Path,
    recipe: RecipeChoice,
    extra: Sequence[str] = (),
) -> list[str]:
    """``dclip finetune --events jsonl --out RUN --data … <recipe args>``."""
    return dclip_command(
        "finetune",
        "--events",
        "jsonl",
        "--out",
        str(run_dir),
        *_data_args(sources, model),
        *recipe.args(),
        *extra,
    )


def resume_command(run_dir: Path) -> list[str]:
    """``dclip finetune --events jsonl --resume RUN`` (the run keeps its own options)."""
    return dclip_command("finetune", "--events", "jsonl", "--resume", str(run_dir))


# Progress as JSON lines, and a stop (at the next batch) once the app closes the child's stdin.
_SWITCH_FLAGS = ("--events", "jsonl", "--stop-on-eof")


def activate_command(bundle: Path) -> list[str]:
    return dclip_command("models", "activate", str(bundle), *_SWITCH_FLAGS)


def rollback_command() -> list[str]:
    return dclip_command("models", "rollback", *_SWITCH_FLAGS)


@dataclass(frozen=True)
class SwitchProgress:
    """A ``{"event": "progress", …}`` line of ``dclip models activate/rollback``."""

    done: int
    total: int
    eta_s: float | None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> SwitchProgress | None:
        """The progress an event reports (``parse_event`` of a line), or None for any other."""
        if event.get("event") != "progress" or "done" not in event:
            return None  # a result, or a line of text
        eta = event.get("eta_s")
        return cls(int(event["done"]), int(event["total"]), None if eta is None else float(eta))

    def sentence(self) -> str:
        """``312 of 1,200 photos embedded, about 2 min left``."""
        text = f"{self.done:,} of {self.total:,} photos"
        if self.eta_s is not None and self.done < self.total:
            minutes = round(self.eta_s / 60)
            text += f", about {minutes} min left" if minutes >= 1 else ", less than a minute left"
        return text


def _data_args(sources: Sequence[str], model: str | None) -> list[str]:
    args = [arg for spec in sources for arg in ("--data", spec)]
    return args + (["--model", model] if model else [])


@dataclass(frozen=True)
class ModelSwitchResult:
    """``dclip models activate/rollback --events jsonl``'s answer.

    Attributes:
        switched: the library now searches with ``active``.
        active_name, active_bundle: the model searches use now.
        previous_name: the model a rollback goes back to.
        embedded: photos embedded for the switch.
    """

    switched: bool
    active_name: str | None
    active_bundle: Path | None
    previous_name: str | None
    embedded: int

    @classmethod
    def from_events(cls, events: Iterable[Mapping[str, Any]]) -> ModelSwitchResult:
        """The command's answer: its last ``{"event": "result", …}`` (``--events jsonl``).

        Raises:
            ValueError: no such event.
        """
        results = [e for e in events if e.get("event") == "result"]
        if not results:
            raise ValueError("no result line")
        data = results[-1]
        active = data.get("active") or {}
        previous = data.get("previous") or {}
        bundle = active.get("bundle")
        return cls(
            switched=bool(data["switched"]),
            active_name=active.get("name"),
            active_bundle=Path(bundle) if bundle else None,
            previous_name=previous.get("name"),
            embedded=int(data.get("embedded", 0)),
        )

    def sentence(self, verb: str) -> str:
        """``Searching with X now (24 photos embedded); Roll back returns to Y``."""
        if not self.switched:
            return (
                f"embedding stopped after {self.embedded} photos; searches still use "
                f"{self.active_name or 'the current model'}"
            )
        how = f"{self.embedded} photos embedded" if self.embedded else "its vectors were stored"
        back = f"; Roll back returns to {self.previous_name}" if self.previous_name else ""
        return f"{verb} {self.active_name} ({how}){back}"
