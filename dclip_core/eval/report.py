"""An evaluation report: several models on the same data in one run, the first being the baseline.

Written as ``report.json`` (every number) and ``report.md`` (a table a person reads), with the
student-vs-base changes: absolute points, relative change (the paper's "Recall@1 gain" is most
likely relative) and zero-shot retention = accuracy(student) / accuracy(base).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dclip_core import __version__
from dclip_core.config.paths import atomic_write_text
from dclip_core.eval.embedders import Embedder
from dclip_core.eval.metrics import ClassificationMetrics, RetrievalMetrics
from dclip_core.eval.tasks import (
    PAPER_TEMPLATES,
    CaptionedImages,
    ClassFolderDataset,
    evaluate_retrieval,
    evaluate_zero_shot,
)

_RETRIEVAL_COLUMNS = ("recall_at_1", "recall_at_5", "recall_at_10", "mrr", "map")


@dataclass
class ModelResult:
    name: str
    retrieval: RetrievalMetrics | None = None
    zero_shot: ClassificationMetrics | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "retrieval": self.retrieval.to_json() if self.retrieval else None,
            "zero_shot": asdict(self.zero_shot) if self.zero_shot else None,
        }


@dataclass
class EvalReport:
    """Results of every model; ``models[0]`` is the baseline the others are compared with."""

    models: list[ModelResult]
    data: dict[str, Any] = field(default_factory=dict)

    def comparisons(self) -> list[dict[str, Any]]:
        """Each non-baseline model against the baseline."""
        if len(self.models) < 2:
            return []
        base = self.models[0]
        out = []
        for other in self.models[1:]:
            entry: dict[str, Any] = {"model": other.name, "baseline": base.name}
            if base.retrieval and other.retrieval:
                for direction in ("text_to_image", "image_to_text"):
                    b = asdict(getattr(base.retrieval, direction))
                    o = asdict(getattr(other.retrieval, direction))
                    entry[direction] = {
                        col: {
                            "delta": o[col] - b[col],
                            "relative": (o[col] - b[col]) / b[col] if b[col] else None,
                        }
                        for col in _RETRIEVAL_COLUMNS
                    }
            if base.zero_shot and other.zero_shot:
                entry["zero_shot_retention"] = {
                    k: (getattr(other.zero_shot, k) / getattr(base.zero_shot, k))
                    if getattr(base.zero_shot, k)
                    else None
                    for k in ("top1", "top5")
                }
            out.append(entry)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "dclip-eval-report/1",
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "dclip_version": __version__,
            "data": self.data,
            "models": [m.to_json() for m in self.models],
            "comparisons": self.comparisons(),
        }

    def to_markdown(self) -> str:
        lines = ["# DCLIP evaluation", ""]
        for key, value in self.data.items():
            lines.append(f"- {key}: {value}")
        if any(m.retrieval for m in self.models):
            lines += ["", "## Retrieval (%)", ""]
            header = "| model | " + " | ".join(
                f"{d} {c}" for d in ("T→I", "I→T") for c in ("R@1", "R@5", "R@10", "MRR", "mAP")
            )
            lines += [header + " |", "|---" * 11 + "|"]
            for m in self.models:
                if not m.retrieval:
                    continue
                cells = []
                for direction in (m.retrieval.text_to_image, m.retrieval.image_to_text):
                    d = asdict(direction)
                    cells += [f"{100 * d[c]:.2f}" for c in _RETRIEVAL_COLUMNS]
                lines.append(f"| {m.name} | " + " | ".join(cells) + " |")
        if any(m.zero_shot for m in self.models):
            lines += ["", "## Zero-shot (%)", "", "| model | top-1 | top-5 | retention top-1 |"]
            lines.append("|---|---|---|---|")
            base = self.models[0].zero_shot
            for m in self.models:
                if not m.zero_shot:
                    continue
                retention = (
                    f"{100 * m.zero_shot.top1 / base.top1:.1f}" if base and base.top1 else "–"
                )
                lines.append(
                    f"| {m.name} | {100 * m.zero_shot.top1:.2f} | {100 * m.zero_shot.top5:.2f} "
                    f"| {retention} |"
                )
        comparisons = self.comparisons()
        if comparisons and any("text_to_image" in c for c in comparisons):
            lines += ["", "## Change vs baseline (Recall@1)", ""]
            for c in comparisons:
                if "text_to_image" not in c:
                    continue
                for key, label in (("text_to_image", "T→I"), ("image_to_text", "I→T")):
                    r1 = c[key]["recall_at_1"]
                    rel = (
                        f"{100 * r1['relative']:+.1f}% relative"
                        if r1["relative"] is not None
                        else ""
                    )
                    change = f"{100 * r1['delta']:+.2f} points {rel}".rstrip()
                    lines.append(f"- {c['model']} {label} R@1: {change}")
        return "\n".join(lines) + "\n"

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        """Write ``report.json`` and ``report.md`` into ``out_dir`` (atomically)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        json_path, md_path = out_dir / "report.json", out_dir / "report.md"
        atomic_write_text(json_path, json.dumps(self.to_json(), indent=2))
        atomic_write_text(md_path, self.to_markdown())
        return json_path, md_path


def evaluate_models(
    embedders: Sequence[Embedder],
    *,
    retrieval: Sequence[CaptionedImages] | None = None,
    zero_shot: ClassFolderDataset | None = None,
    templates: Sequence[str] = PAPER_TEMPLATES,
    data: dict[str, Any] | None = None,
) -> EvalReport:
    """Evaluate every embedder on the same data; the first one is the baseline."""
    results = []
    for embedder in embedders:
        result = ModelResult(name=embedder.name)
        if retrieval is not None:
            result.retrieval = evaluate_retrieval(embedder, retrieval)
        if zero_shot is not None:
            result.zero_shot = evaluate_zero_shot(embedder, zero_shot, templates)
        results.append(result)
    summary = dict(data or {})
    if retrieval is not None:
        summary.setdefault("retrieval images", len(retrieval))
        summary.setdefault("retrieval captions", sum(len(r.captions) for r in retrieval))
    if zero_shot is not None:
        summary.setdefault("zero-shot classes", len(zero_shot.class_names))
        summary.setdefault("zero-shot images", len(zero_shot.samples))
        summary.setdefault("templates", list(templates))
    return EvalReport(models=results, data=summary)
