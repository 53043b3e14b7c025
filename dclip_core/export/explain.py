"""The ``explain/`` part of a bundle: what the visualizer needs to run the teacher without torch.

``explain/`` holds (DESIGN.md §4):

- ``teacher.onnx`` — inputs ``spans [B,Nt,D]``, ``span_mask [B,Nt] bool``, ``regions [B,Nr,D]``,
  ``region_mask [B,Nr] bool``; outputs ``global_embedding [B,D]``, ``text_to_region
  [B,layers,heads,Nt,Nr]`` and ``region_to_text [B,layers,heads,Nr,Nt]``; batch and both lengths
  dynamic;
- the frozen *base* encoders the teacher was trained on: ``image.onnx`` embeds crops and
  ``text.onnx`` gives the span vectors. How depends on the teacher's ``span_features``
  (docs/adr/0017): ``token-states`` (the paper's) pools ``text.onnx``'s ``token_states`` of the
  caption over each span's token range; ``sentence`` runs each span's *text* through ``text.onnx``
  on its own and takes its ``embeddings`` output — exactly what
  :class:`~dclip_core.models.text_features.FrozenTextEncoder` fed the teacher in training. A bundle
  of the base model itself already has them at the top level, so they are referenced instead of
  copied;
- ``detector.onnx`` — the YOLO detector with NMS, when one is given.

``bundle.json``'s ``explain`` entry names these files and carries the teacher's configuration, span
mode, span features and grounding; the files are added to the bundle's sha256 list, so tampering
is caught as for the rest.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from open_clip import CLIP
from torch import nn

from dclip_core.config.paths import atomic_write_text
from dclip_core.errors import ExportError
from dclip_core.export.onnx_export import ONNX_OPSET, export_image_tower, export_text_tower
from dclip_core.models.registry import get_model_spec
from dclip_core.models.teacher import CrossModalTeacher, load_teacher
from dclip_core.runtime.bundle import MANIFEST_NAME, BundleManifest, load_manifest, sha256_file

EXPLAIN_DIR = "explain"
EXPLAIN_FORMAT_VERSION = 1
TEACHER_INPUTS = ["spans", "span_mask", "regions", "region_mask"]
TEACHER_OUTPUTS = ["global_embedding", "text_to_region", "region_to_text"]

Progress = Callable[[str], None]


class TeacherForExport(nn.Module):
    """The teacher with tuple outputs, the shape the ONNX graph exposes."""

    def __init__(self, teacher: CrossModalTeacher) -> None:
        super().__init__()
        self.teacher = teacher

    def forward(
        self,
        spans: torch.Tensor,
        span_mask: torch.Tensor,
        regions: torch.Tensor,
        region_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.teacher(spans, span_mask, regions, region_mask)
        return out.global_embedding, out.text_to_region, out.region_to_text


def export_teacher_onnx(teacher: CrossModalTeacher, path: Path) -> None:
    """Write ``teacher`` as ONNX with dynamic batch, span and region counts.

    Raises:
        ExportError: the exporter failed.
    """
    dim = teacher.config.dim
    # Tracing example with padding on both sides, so the mask paths are in the graph.
    spans = torch.randn(2, 5, dim)
    regions = torch.randn(2, 3, dim)
    span_mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    region_mask = torch.tensor([[True, True, False], [True, True, True]])
    dynamic_axes = {
        "spans": {0: "batch", 1: "spans"},
        "span_mask": {0: "batch", 1: "spans"},
        "regions": {0: "batch", 1: "regions"},
        "region_mask": {0: "batch", 1: "regions"},
        "global_embedding": {0: "batch"},
        "text_to_region": {0: "batch", 3: "spans", 4: "regions"},
        "region_to_text": {0: "batch", 3: "regions", 4: "spans"},
    }
    module = TeacherForExport(teacher.eval()).eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter is deprecated; we use it for the same reasons as the
            # encoders (docs/adr/0008-onnx-export.md).
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
            torch.onnx.export(
                module,
                (spans, span_mask, regions, region_mask),
                str(path),
                dynamo=False,
                input_names=TEACHER_INPUTS,
                output_names=TEACHER_OUTPUTS,
                dynamic_axes=dynamic_axes,
                opset_version=ONNX_OPSET,
                do_constant_folding=True,
            )
    except (RuntimeError, ValueError, TypeError, torch.onnx.errors.OnnxExporterError) as exc:
        raise ExportError(f"exporting the teacher to {path} failed: {exc}") from exc
    if not path.is_file():
        raise ExportError(f"exporting the teacher wrote no file at {path}")


def add_explain(
    bundle: Path,
    teacher_path: Path,
    *,
    base_model: CLIP | None = None,
    detector: str | None = None,
    progress: Progress | None = None,
) -> BundleManifest:
    """Add (or replace) the ``explain/`` part of an existing bundle.

    Args:
        bundle: the bundle folder (its files are verified first).
        teacher_path: a ``teacher.safetensors`` trained on the bundle's base model.
        base_model: the frozen base CLIP (built from the teacher's spec when None).
        detector: a registered detector to export as ``detector.onnx`` (network + NMS, the
            threshold an input); None leaves the detector out.
        progress: called with one line per step.

    Returns:
        The updated, re-verified manifest.

    Raises:
        ExportError: the teacher does not match the bundle, or an export failed.
    """
    say = progress or (lambda _line: None)
    manifest = load_manifest(bundle)
    loaded = load_teacher(teacher_path)
    spec = get_model_spec(loaded.base_model)
    if spec.base != manifest.base_model or spec.embed_dim != manifest.embed_dim:
        raise ExportError(
            f"teacher {teacher_path} was trained on {spec.base!r} features but bundle {bundle} "
            f"is based on {manifest.base_model!r}; export a teacher of the same base model"
        )
    folder = manifest.path
    staging = folder / f".{EXPLAIN_DIR}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        say("exporting the teacher to explain/teacher.onnx")
        export_teacher_onnx(loaded.teacher, staging / "teacher.onnx")
        is_base_bundle = manifest.kind == "clip" and manifest.model_spec == spec.name
        if is_base_bundle:
            crop_encoder, span_encoder = manifest.image.file, manifest.text.file
        else:
            from dclip_core.models.clip import create_clip

            base = (base_model or create_clip(spec)).eval().float()
            say("exporting the frozen base encoders to explain/image.onnx and explain/text.onnx")
            export_image_tower(base, spec.preprocess.size, staging / "image.onnx")
            export_text_tower(base, spec.context_length, staging / "text.onnx")
            crop_encoder, span_encoder = f"{EXPLAIN_DIR}/image.onnx", f"{EXPLAIN_DIR}/text.onnx"
        detector_entry: dict[str, Any] | None = None
        if detector is not None:
            detector_entry = _export_detector(detector, staging / "detector.onnx", say)
        target = folder / EXPLAIN_DIR
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    explain = {
        "format_version": EXPLAIN_FORMAT_VERSION,
        "base_model": spec.name,
        "teacher": f"{EXPLAIN_DIR}/teacher.onnx",
        "teacher_config": loaded.teacher.config.to_json(),
        "teacher_inputs": TEACHER_INPUTS,
        "teacher_outputs": TEACHER_OUTPUTS,
        "span_mode": loaded.extra.get("span_mode", "tokens"),
        # Teachers saved before these keys existed were fed token states and had no grounding.
        "span_features": loaded.extra.get("span_features", "token-states"),
        "grounding": loaded.extra.get("grounding", "none"),
        # How long the teacher trained (None: not recorded): the explain runtime labels an
        # untrained teacher's attention as such.
        "teacher_steps": _steps(loaded.extra.get("steps")),
        "crop_encoder": crop_encoder,
        "span_encoder": span_encoder,
        "crop_preprocess": spec.preprocess.to_json(),
        "detector": detector_entry,
    }
    files = {
        path.relative_to(folder).as_posix(): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith(".") and path.name != MANIFEST_NAME
    }
    updated = dataclasses.replace(manifest, explain=explain, files=files)
    atomic_write_text(folder / MANIFEST_NAME, json.dumps(updated.to_json(), indent=2) + "\n")
    say("explain/ added to the bundle")
    return load_manifest(folder)


def _export_detector(name: str, path: Path, say: Progress) -> dict[str, Any]:
    from dclip_core.export.detector_export import export_detector_onnx
    from dclip_core.models.detector import create_detector

    say(f"exporting detector {name} with NMS to explain/detector.onnx")
    detector = create_detector(name)
    export_detector_onnx(detector, path)
    return {"file": f"{EXPLAIN_DIR}/detector.onnx", "name": name, "imgsz": detector.imgsz}


def _steps(value: object) -> int | None:
    """A teacher file's recorded step count (an int, or its text in older files), else None."""
    try:
        return int(value) if isinstance(value, int | float | str) else None
    except ValueError:
        return None
