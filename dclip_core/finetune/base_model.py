"""Which registered CLIP a fine-tune starts from: a model name, or the model behind a bundle.

The library searches with bundles (ONNX); training needs the torch model they were exported
from. A bundle's ``model_spec`` names it. Models registered at run time (the shapes world's
pretrained ``shapes-tiny-<sha12>``, the demo's model) are re-registered from the weights cache,
where their exporter left them, so ``--model shapes-demo`` works in the demo home offline.
"""

from __future__ import annotations

from dclip_core.config.paths import get_paths
from dclip_core.errors import BundleError, UnknownModelError
from dclip_core.models.registry import get_model_spec
from dclip_core.runtime.bundle import load_manifest, resolve_bundle
from dclip_core.shapes.pretrain import register_trained_base
from dclip_core.shapes.recipe import SHAPES_MODEL


def resolve_base_model(name_or_bundle: str) -> str:
    """The registry name of the model to fine-tune.

    Raises:
        UnknownModelError: neither a registered model nor a bundle whose model can be found.
    """
    try:
        return get_model_spec(name_or_bundle).name
    except UnknownModelError as unknown:
        try:
            manifest = load_manifest(resolve_bundle(name_or_bundle), verify=False)
        except BundleError:
            raise unknown from None
    name = manifest.model_spec
    try:
        return get_model_spec(name).name
    except UnknownModelError:
        weights = get_paths().weights_dir / f"{name}.safetensors"
        if name.startswith(f"{SHAPES_MODEL}-") and weights.is_file():
            return register_trained_base(weights).name
        raise UnknownModelError(
            f"bundle {manifest.path} was exported from model {name!r}, whose weights are not in "
            f"{get_paths().weights_dir}; fine-tune a registered model (`dclip models list`)"
        ) from None
