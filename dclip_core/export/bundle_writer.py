"""Write a model bundle from a torch CLIP model (DESIGN.md §4).

Everything is written into a hidden staging folder next to the target and renamed into place at
the end, so a crash or Ctrl-C never leaves a half-written folder that looks like a bundle. Before
the rename the exporter proves the bundle right: the fp32 towers must agree with open_clip's own
``encode_image``/``encode_text`` on fixed reference inputs, and each variant's agreement with fp32
is measured and stored in ``bundle.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from open_clip import CLIP

from dclip_core import __version__
from dclip_core.config.paths import atomic_write_text
from dclip_core.errors import ExportError
from dclip_core.export.onnx_export import ONNX_OPSET, export_image_tower, export_text_tower
from dclip_core.export.quantize import convert_fp16, quantize_int8
from dclip_core.export.reference_inputs import reference_pixels, reference_token_ids, row_cosines
from dclip_core.models.registry import ModelSpec
from dclip_core.runtime.bundle import (
    MANIFEST_NAME,
    TOKENIZER_FILE,
    BundleKind,
    BundleManifest,
    BundleVariant,
    ImageTower,
    TextTower,
    load_manifest,
    sha256_file,
)
from dclip_core.runtime.session import choose_provider, create_session, optimization_for_variant
from dclip_core.runtime.tokenizer import ClipTokenizer

Progress = Callable[[str], None]

# fp32 ONNX vs torch differ only by float reordering; anything below this is a wrong graph.
PARITY_MIN_COSINE = 0.999


def write_bundle(
    model: CLIP,
    spec: ModelSpec,
    target: Path,
    *,
    name: str | None = None,
    kind: BundleKind = "clip",
    fp16: bool = False,
    int8: bool = False,
    source: str | None = None,
    provenance: dict[str, Any] | None = None,
    replace: bool = True,
    progress: Progress | None = None,
) -> BundleManifest:
    """Export ``model`` into a bundle folder at ``target``.

    Args:
        model: an open_clip CLIP in eval mode, architecture of ``spec``.
        spec: the registered spec the model follows (preprocessing, context length, base).
        target: the bundle folder to create.
        name: display name (default: the spec's name).
        kind: ``"clip"`` or ``"dclip-student"``.
        fp16: add ``image.fp16.onnx``/``text.fp16.onnx`` (for CUDA).
        int8: add dynamically quantised ``image.int8.onnx``/``text.int8.onnx`` (for CPUs).
        source: what the weights came from, e.g. ``"model:clip-vit-b-32"`` or ``"checkpoint:/p"``.
        provenance: extra provenance entries (recipe, data summary, metrics).
        replace: replace an existing bundle at ``target``; when False and a bundle appeared there
            meanwhile (another process exported it), that bundle is kept and returned.
        progress: called with one line per step.

    Returns:
        The manifest of the finished bundle, loaded and verified from ``target``.

    Raises:
        ExportError: export, quantisation or the parity check failed, or ``target`` exists and
            is not a bundle.
    """
    say = progress or (lambda _line: None)
    target = target.expanduser().absolute()
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        _write_into(
            staging,
            model,
            spec,
            name=name or spec.name,
            kind=kind,
            fp16=fp16,
            int8=int8,
            source=source or f"model:{spec.name}",
            provenance=provenance or {},
            say=say,
        )
        say(f"moving the bundle into place at {target}")
        kept = _move_into_place(staging, target, replace=replace)
    finally:
        # Best effort: a leftover hidden staging folder is harmless, and an error here must not
        # hide the export error that brought us here.
        shutil.rmtree(staging, ignore_errors=True)
    if kept:
        say(f"another process finished {target} first; keeping that bundle")
    return load_manifest(target)


def _write_into(
    folder: Path,
    model: CLIP,
    spec: ModelSpec,
    *,
    name: str,
    kind: BundleKind,
    fp16: bool,
    int8: bool,
    source: str,
    provenance: dict[str, Any],
    say: Progress,
) -> BundleManifest:
    model = model.eval().float()
    preprocess = spec.preprocess
    context_length = spec.context_length

    say(f"exporting the image tower ({preprocess.size}x{preprocess.size}) to image.onnx")
    export_image_tower(model, preprocess.size, folder / "image.onnx")
    say(f"exporting the text tower (context {context_length}) to text.onnx")
    export_text_tower(model, context_length, folder / "text.onnx")

    vocab = folder / TOKENIZER_FILE
    vocab.parent.mkdir(parents=True)
    shutil.copyfile(ClipTokenizer.default_vocab_path(), vocab)

    pixels = reference_pixels(preprocess)
    token_ids = reference_token_ids(vocab, context_length)
    say("checking the ONNX towers against torch on reference images and texts")
    fp32_outputs = _run_towers(folder, "image.onnx", "text.onnx", pixels, token_ids)
    parity = _check_parity(model, pixels, token_ids, fp32_outputs)

    variants: dict[str, BundleVariant] = {}
    converters = [("fp16", fp16, convert_fp16), ("int8", int8, quantize_int8)]
    for variant, wanted, convert in converters:
        if not wanted:
            continue
        image_file, text_file = f"image.{variant}.onnx", f"text.{variant}.onnx"
        say(f"writing the {variant} variant ({image_file}, {text_file})")
        convert(folder / "image.onnx", folder / image_file)
        convert(folder / "text.onnx", folder / text_file)
        image_out, text_out = _run_towers(
            folder, image_file, text_file, pixels, token_ids, variant=variant
        )
        quality = {
            "image_mean_cosine": round(float(row_cosines(image_out, fp32_outputs[0]).mean()), 6),
            "text_mean_cosine": round(float(row_cosines(text_out, fp32_outputs[1]).mean()), 6),
        }
        say(
            f"{variant} vs fp32 mean cosine: image {quality['image_mean_cosine']:.4f}, "
            f"text {quality['text_mean_cosine']:.4f}"
        )
        variants[variant] = BundleVariant(image=image_file, text=text_file, quality=quality)

    say("hashing files")
    files = {
        path.relative_to(folder).as_posix(): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    manifest = BundleManifest(
        path=folder,
        name=name,
        kind=kind,
        model_spec=spec.name,
        base_model=spec.base,
        embed_dim=spec.embed_dim,
        meaningless=spec.meaningless,
        image=ImageTower(file="image.onnx", preprocess=preprocess),
        text=TextTower(
            file="text.onnx",
            context_length=context_length,
            tokenizer=TOKENIZER_FILE,
            query_template=spec.query_template,
        ),
        files=files,
        variants=variants,
        explain=None,
        provenance={
            "exported_by": f"dclip {__version__}",
            "source": source,
            "exporter": f"torch {torch.__version__} (TorchScript exporter, opset {ONNX_OPSET})",
            "parity": parity,
            **provenance,
        },
        created=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
    )
    manifest_file = folder / MANIFEST_NAME
    atomic_write_text(manifest_file, json.dumps(manifest.to_json(), indent=2) + "\n")
    # The atomic writer's temp file is private (0600); a bundle is meant to be shared like the
    # ONNX files next to it.
    manifest_file.chmod(0o644)
    return manifest


def _run_towers(
    folder: Path,
    image_file: str,
    text_file: str,
    pixels: np.ndarray,
    token_ids: np.ndarray,
    *,
    variant: str = "fp32",
) -> tuple[np.ndarray, np.ndarray]:
    cpu = choose_provider("cpu")
    level = optimization_for_variant(variant)
    image_session = create_session(folder / image_file, cpu, optimization=level)
    text_session = create_session(folder / text_file, cpu, optimization=level)
    (image_out,) = image_session.run(["embeddings"], {"pixels": pixels})
    (text_out,) = text_session.run(["embeddings"], {"input_ids": token_ids})
    return np.asarray(image_out, np.float32), np.asarray(text_out, np.float32)


def _check_parity(
    model: CLIP,
    pixels: np.ndarray,
    token_ids: np.ndarray,
    onnx_outputs: tuple[np.ndarray, np.ndarray],
) -> dict[str, float]:
    with torch.no_grad():
        torch_image = model.encode_image(torch.from_numpy(pixels), normalize=True).numpy()
        torch_text = model.encode_text(torch.from_numpy(token_ids), normalize=True).numpy()
    image_min = float(row_cosines(onnx_outputs[0], torch_image).min())
    text_min = float(row_cosines(onnx_outputs[1], torch_text).min())
    if min(image_min, text_min) < PARITY_MIN_COSINE:
        raise ExportError(
            f"the exported towers disagree with torch (min cosine image {image_min:.5f}, text "
            f"{text_min:.5f}, need {PARITY_MIN_COSINE}); this model is not exportable as is"
        )
    return {"image_min_cosine": round(image_min, 7), "text_min_cosine": round(text_min, 7)}


def _check_target(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ExportError(f"{target} exists and is not a folder; choose another output folder")
    if target.is_dir() and not _is_replaceable(target):
        raise ExportError(
            f"{target} exists and is not a model bundle; choose another output folder or empty it"
        )


def _is_replaceable(folder: Path) -> bool:
    """An empty folder or an earlier bundle may be replaced; anything else is the user's."""
    return (folder / MANIFEST_NAME).is_file() or not any(folder.iterdir())


def _move_into_place(staging: Path, target: Path, *, replace: bool) -> bool:
    """Rename ``staging`` to ``target``; returns True when an existing bundle was kept instead."""
    if not target.exists():
        try:
            os.rename(staging, target)
            return False
        except OSError:
            if not target.exists():
                raise
            # Another exporter renamed its bundle into place between our check and rename.
    if not replace and (target / MANIFEST_NAME).is_file():
        return True
    _check_target(target)
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(old, target)
        raise
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(old)
    return False
