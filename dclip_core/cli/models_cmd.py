"""``dclip models``: list, inspect, download and import model weights."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dclip_core.cli import command, warn_meaningless
from dclip_core.models import get_model_spec, list_model_specs


@command("models", "list, inspect, download and import models")
def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    p_list = sub.add_parser("list", help="list the registered models")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    p_list.set_defaults(handler=run_list)

    p_download = sub.add_parser(
        "download",
        help="download a model's weights into the cache (verified by sha256)",
        description="Download a model's weights into the cache and verify their sha256. "
        "DCLIP_WEIGHTS_MIRROR=URL fetches from URL/<file name> instead; DCLIP_OFFLINE=1 never "
        "uses the network.",
    )
    p_download.add_argument("name", metavar="NAME", help="model name (see `dclip models list`)")
    p_download.add_argument("--quiet", action="store_true", help="no progress bar")
    p_download.set_defaults(handler=run_download)

    p_import = sub.add_parser(
        "import",
        help="register a weights file you downloaded yourself (e.g. on another machine)",
        description="Copy a weights file into the cache after checking that its sha256 is the "
        "one pinned for the model.",
    )
    p_import.add_argument("name", metavar="NAME", help="model name (see `dclip models list`)")
    p_import.add_argument("path", metavar="PATH", type=Path, help="the weights file")
    p_import.set_defaults(handler=run_import)


def run_list(args: argparse.Namespace) -> int:
    from dclip_core.models.weights import cached_weights_path

    rows = []
    for spec in list_model_specs():
        row = spec.to_json()
        cached = cached_weights_path(spec)
        row["available"] = spec.weights is None or cached is not None
        row["weights_path"] = str(cached) if cached else None
        rows.append(row)
    if args.json:
        print(json.dumps({"models": rows}, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        if not r["pretrained"]:
            state = "ready (random)"
        else:
            state = "ready" if r["available"] else "not downloaded"
        print(f"{r['name']:<{width}}  {state:<14}  {r['description']}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from dclip_core.models.weights import ensure_weights, verify_cached_weights

    spec = get_model_spec(args.name)
    if spec.meaningless:
        warn_meaningless(spec.name)
    if spec.weights is None:
        print(f"{spec.name}: nothing to download (random init from seed {spec.seed}, built in)")
        return 0
    # An explicit download re-hashes a cached file rather than trusting its stamp.
    cached = verify_cached_weights(spec)
    if cached is not None:
        print(f"{spec.name}: already downloaded and verified: {cached}")
        return 0
    path = ensure_weights(spec, progress=not args.quiet)
    print(f"{spec.name}: downloaded and verified: {path}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from dclip_core.models.weights import import_weights

    spec = get_model_spec(args.name)
    if spec.meaningless:
        warn_meaningless(spec.name)
    path = import_weights(spec, args.path)
    print(f"{spec.name}: imported {args.path} (sha256 verified) into {path}")
    return 0
