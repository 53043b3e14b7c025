"""``dclip models``: list, inspect, download and import model weights."""

from __future__ import annotations

import argparse
import json

from dclip_core.cli import command
from dclip_core.models import list_model_specs


@command("models", "list, inspect, download and import models")
def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    p_list = sub.add_parser("list", help="list the registered models")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    p_list.set_defaults(handler=run_list)


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
        state = "ready" if r["available"] else "not downloaded"
        print(f"{r['name']:<{width}}  {state:<14}  {r['description']}")
    return 0
