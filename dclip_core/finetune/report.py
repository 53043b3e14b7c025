"""The last two stages: base vs fine-tuned on the held-out photos (with the verdict), and the
student bundle, whose provenance carries the data check, the numbers and the verdict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from dclip_core.config.paths import atomic_write_text
from dclip_core.eval.embedders import TorchClipEmbedder
from dclip_core.eval.tasks import ClassFolderDataset
from dclip_core.finetune.evaluate import (
    HeldOutSet,
    comparison_rows,
    format_table,
    hard_negatives_of,
    score,
)
from dclip_core.finetune.run_folder import CHECK_FILE, FinetuneRun
from dclip_core.finetune.verdict import judge
from dclip_core.models.registry import get_model_spec
from dclip_core.train.datasets import CaptionedImage
from dclip_core.train.events import EventSink

EVAL_FILE = "eval.json"
REPORT_FILE = "report.md"
BUNDLE_DIR = "bundle"


def evaluate_run(
    run: FinetuneRun, held_out: list[CaptionedImage], events: EventSink, device: str = "cpu"
) -> dict[str, Any]:
    """Score base and student on the held-out photos; write ``eval.json`` and ``report.md``."""
    from dclip_core.models.clip import create_clip
    from dclip_core.train.distill import load_student

    spec = get_model_spec(run.base_model)
    options = run.options
    held = HeldOutSet(
        records=held_out,
        hard_negatives=hard_negatives_of(held_out),
        zero_shot=ClassFolderDataset.read(Path(options.zeroshot)) if options.zeroshot else None,
        zero_shot_template=options.zeroshot_template,
    )
    student, _ = load_student(Path(run.result("student")["student"]))
    scores = {}
    for name, model in (("base", create_clip(spec)), ("student", student)):
        embedder = TorchClipEmbedder(
            name, model, spec.preprocess, spec.context_length, device=device
        )
        scores[name] = score(embedder, held)
    rows = comparison_rows(scores["base"], scores["student"])
    probe = held.hard_negatives
    verdict = judge(
        scores["base"],
        scores["student"],
        queries={
            "t2i_r1": held.queries,
            "hard_negative_accuracy": len(probe.images) if probe else 0,
        },
        photos=len(held_out),
    )
    result: dict[str, Any] = {
        "held_out": {
            "photos": len(held_out),
            "queries": held.queries,
            "hard_negatives": len(probe.images) if probe else 0,
            "zero_shot": options.zeroshot,
        },
        "base": scores["base"],
        "student": scores["student"],
        "rows": rows,
        "verdict": verdict.to_json(),
    }
    atomic_write_text(run.path / EVAL_FILE, json.dumps(result, indent=2, ensure_ascii=False))
    atomic_write_text(run.path / REPORT_FILE, _report(run, result))
    events.emit("evaluation", stage="evaluate", split="held-out", **result["held_out"], rows=rows)
    events.emit("verdict", stage="evaluate", **verdict.to_json())
    return result


def _report(run: FinetuneRun, result: dict[str, Any]) -> str:
    check = json.loads((run.path / CHECK_FILE).read_text(encoding="utf-8"))
    held = result["held_out"]
    lines = [
        f"# Fine-tune {run.path.name}",
        "",
        f"**{result['verdict']['text']}**",
        "",
        f"Base model `{run.base_model}`, data {', '.join(run.options.sources)}: "
        f"{check['train']} photos trained on, {held['photos']} held out "
        f"({held['queries']} captions"
        + (f", {held['hard_negatives']} hard negatives" if held["hard_negatives"] else "")
        + ").",
        "",
        format_table(result["rows"]),
        "",
    ]
    lines += [f"- {w}" for w in check["warnings"]]
    return "\n".join(lines) + "\n"


def export_run(run: FinetuneRun, events: EventSink) -> Path:
    """Export the student into ``<run>/bundle`` (built beside it, renamed into place)."""
    from dclip_core.export.student_bundle import export_student_bundle

    target = run.path / BUNDLE_DIR
    partial = run.path / f".{BUNDLE_DIR}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    teacher = Path(run.result("teacher")["teacher"])
    export_student_bundle(
        Path(run.result("student")["student"]),
        partial,
        teacher_path=teacher if run.options.explain else None,
        name=run.options.bundle_name or f"{run.base_model}-finetuned-{run.path.name}",
        progress=lambda line: events.emit("progress", stage="export", message=line),
    )
    manifest = partial / "bundle.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    evaluation = run.result("evaluate")
    data.setdefault("provenance", {})["finetune"] = {
        "run": str(run.path),
        "sources": run.options.sources,
        "base_model": run.base_model,
        "held_out": evaluation["held_out"],
        "metrics_before": evaluation["base"],
        "metrics_after": evaluation["student"],
        "verdict": evaluation["verdict"]["text"],
    }
    atomic_write_text(manifest, json.dumps(data, indent=2, ensure_ascii=False))
    # A bundle already in place is this run's own, from an export whose record a crash lost.
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target
