"""ONNX export of DCLIP models into model bundles (torch).

Importing this package is cheap; torch and open_clip load only when something is exported, so the
library's CLI can call :func:`ensure_bundle` and pay for torch only when a bundle must be made.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dclip_core.config.paths import get_paths
from dclip_core.errors import ExportError
from dclip_core.models.registry import get_model_spec
from dclip_core.runtime.bundle import MANIFEST_NAME, sha256_file

if TYPE_CHECKING:
    from dclip_core.runtime.bundle import BundleManifest

__all__ = ["bundle_path_for", "ensure_bundle", "export_model"]


def export_model(
    model_name: str,
    out_dir: Path,
    *,
    checkpoint: Path | None = None,
    name: str | None = None,
    fp16: bool = False,
    int8: bool = False,
    replace: bool = True,
    progress: Callable[[str], None] | None = None,
) -> BundleManifest:
    """Export a registered model, or a checkpoint of its architecture, into a bundle.

    Args:
        model_name: registered model name; with ``checkpoint`` it names the architecture.
        out_dir: the bundle folder to write.
        checkpoint: an open_clip-compatible weights file (state dict, safetensors or OpenAI
            archive, loaded without unpickling code) to export instead of the registered weights.
        name: display name of the bundle (default: the model name or the checkpoint's stem).
        fp16: add fp16 towers (for CUDA).
        int8: add dynamically quantised int8 towers (for CPUs).
        replace: replace an existing bundle at ``out_dir`` (see ``write_bundle``).
        progress: receives one line per step.

    Raises:
        UnknownModelError, WeightsMissingError: the model or its weights are not available.
        WeightsError: the checkpoint is unreadable or does not fit the architecture.
        ExportError: export failed.
    """
    from dclip_core.export.bundle_writer import write_bundle
    from dclip_core.models.clip import create_clip
    from dclip_core.models.weights import ensure_weights

    spec = get_model_spec(model_name)
    say = progress or (lambda _line: None)
    provenance: dict[str, object] = {}
    if checkpoint is not None:
        checkpoint = checkpoint.expanduser().absolute()
        if not checkpoint.is_file():
            raise ExportError(f"checkpoint {checkpoint} does not exist")
        say(f"loading checkpoint {checkpoint} into the {spec.name} architecture")
        model = create_clip(spec, weights_path=checkpoint, download=False)
        source = f"checkpoint:{checkpoint}"
        provenance["checkpoint_sha256"] = sha256_file(checkpoint)
        default_name = checkpoint.stem
    else:
        weights = None
        if spec.weights is not None:
            # Before building the model: a missing file is reported without seconds of init.
            weights = ensure_weights(spec)
        say(f"building {spec.name}" + (" (random weights)" if weights is None else ""))
        model = create_clip(spec, weights_path=weights)
        source = f"model:{spec.name}"
        default_name = spec.name
    return write_bundle(
        model,
        spec,
        out_dir,
        name=name or default_name,
        fp16=fp16,
        int8=int8,
        source=source,
        provenance=provenance,
        replace=replace,
        progress=progress,
    )


def bundle_path_for(model_name: str) -> Path:
    """Where the bundle of a registered model lives: ``get_paths().bundles_dir / model_name``."""
    return get_paths().bundles_dir / model_name


def ensure_bundle(model_name: str, progress: Callable[[str], None] | None = None) -> Path:
    """The bundle folder of a registered model, exported on first use.

    Args:
        model_name: a registered model name (``clip-vit-b-32``, ``test-tiny`` ...).
        progress: receives one line per export step (only called when exporting).

    Returns:
        ``get_paths().bundles_dir / model_name``, holding a bundle.

    Raises:
        UnknownModelError: the name is not registered.
        WeightsMissingError: the weights are neither cached nor downloadable.
        ExportError: export failed.
    """
    spec = get_model_spec(model_name)
    target = bundle_path_for(spec.name)
    if (target / MANIFEST_NAME).is_file():
        return target
    export_model(spec.name, target, replace=False, progress=progress)
    return target
