"""``dclip export``: turn a registered model or a checkpoint into an ONNX model bundle."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dclip_core.cli import command, warn_meaningless


@command("export", "export a model or checkpoint to an ONNX model bundle")
def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Export the image and text towers of a model to ONNX, with the tokenizer and a verified "
        "bundle.json, into a model bundle that `dclip index/search` and the app load. "
        "Each export checks the ONNX towers against torch before it is moved into place."
    )
    parser.add_argument(
        "--model",
        metavar="NAME",
        required=True,
        help="registered model to export; with --checkpoint, the architecture of the checkpoint",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        type=Path,
        help="export these weights (open_clip state dict or safetensors) instead of the "
        "model's own",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="bundle folder to write (default: the bundles folder, as <name>); an earlier bundle "
        "there is replaced",
    )
    parser.add_argument("--name", metavar="N", help="display name of the bundle")
    parser.add_argument("--fp16", action="store_true", help="also write fp16 towers (for CUDA)")
    parser.add_argument(
        "--int8",
        action="store_true",
        help="also write dynamically quantised int8 towers (smaller, for CPUs) and report their "
        "mean cosine to fp32",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from dclip_core.config.paths import get_paths
    from dclip_core.export import export_model
    from dclip_core.models import get_model_spec

    spec = get_model_spec(args.model)
    if spec.meaningless and args.checkpoint is None:
        warn_meaningless(spec.name)
    default_name = args.name or (args.checkpoint.stem if args.checkpoint else spec.name)
    out = args.out if args.out is not None else get_paths().bundles_dir / default_name

    def progress(line: str) -> None:
        print(f"dclip: export: {line}", file=sys.stderr, flush=True)

    manifest = export_model(
        spec.name,
        out,
        checkpoint=args.checkpoint,
        name=args.name,
        fp16=args.fp16,
        int8=args.int8,
        progress=progress,
    )
    if args.json:
        result = {
            "bundle": str(manifest.path),
            "name": manifest.name,
            "fingerprint": manifest.fingerprint,
            "files": sorted(manifest.files),
            "variants": {name: v.quality for name, v in manifest.variants.items()},
            "parity": manifest.provenance.get("parity"),
        }
        print(json.dumps(result, indent=2))
        return 0
    print(f"exported {manifest.name} to {manifest.path} (fingerprint {manifest.fingerprint})")
    for name, variant in manifest.variants.items():
        quality = variant.quality
        print(
            f"{name} vs fp32 mean cosine: image {quality['image_mean_cosine']:.4f}, "
            f"text {quality['text_mean_cosine']:.4f}"
        )
    return 0
