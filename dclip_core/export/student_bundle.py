"""Package a distilled student as a ``dclip-student`` bundle, with ``explain/`` given a teacher.

The towers go through the encoder exporter every bundle uses (:func:`write_bundle`), so a student
bundle is searched exactly like any other; its provenance records the recipe and teacher.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dclip_core.export.bundle_writer import write_bundle
from dclip_core.export.explain import add_explain
from dclip_core.models.registry import get_model_spec
from dclip_core.runtime.bundle import BundleManifest


def export_student_bundle(
    student_path: Path,
    target: Path,
    *,
    teacher_path: Path | None = None,
    name: str | None = None,
    detector: str | None = None,
    int8: bool = False,
    progress: Callable[[str], None] | None = None,
) -> BundleManifest:
    """Export ``student.safetensors`` into a bundle folder at ``target``.

    Args:
        student_path: written by ``dclip distill``.
        target: the bundle folder to create (replaced if it is an earlier bundle).
        teacher_path: add ``explain/`` with this teacher (the one the student was distilled from).
        name: display name (default: ``<base>-dclip``).
        detector: also export this detector into ``explain/``.
        int8: add the int8 variant.
        progress: called with one line per step.

    Raises:
        TrainingError: unreadable student file. ExportError: export failed.
    """
    import json

    from safetensors import safe_open

    from dclip_core.train.distill import load_student

    student, model = load_student(student_path)
    with safe_open(str(student_path), framework="pt") as handle:
        extra = json.loads((handle.metadata() or {}).get("extra", "{}"))
    spec = get_model_spec(model)
    manifest = write_bundle(
        student,
        spec,
        target,
        name=name or f"{spec.name}-dclip",
        kind="dclip-student",
        int8=int8,
        source=f"checkpoint:{student_path}",
        provenance={
            "method": "dclip",
            "recipe": extra.get("recipe"),
            "teacher": extra.get("teacher"),
            "steps": extra.get("steps"),
            "val_history": extra.get("val_history"),
        },
        progress=progress,
    )
    if teacher_path is not None:
        manifest = add_explain(target, teacher_path, detector=detector, progress=progress)
    return manifest
