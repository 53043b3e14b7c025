"""``dclip models``: list, inspect, download and import model weights; switch the library's model
(``activate BUNDLE``) and go back to the previous one (``rollback``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dclip_core.cli import command, warn_meaningless
from dclip_core.errors import BundleError, UnknownModelError
from dclip_core.models import ModelSpec, WeightsSource, get_model_spec, list_model_specs

if TYPE_CHECKING:
    from dclip_core.library import IndexProgress


@command("models", "list, inspect, download, import, activate and roll back models")
def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    p_list = sub.add_parser("list", help="list the registered models")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    p_list.set_defaults(handler=run_list)

    p_download = sub.add_parser(
        "download",
        help="download a model's weights into the cache (verified by sha256)",
        description="Download a model's weights into the cache and verify their sha256: from the "
        "Hugging Face Hub first (HF_ENDPOINT=URL names a Hub mirror), then the model's other "
        "sources. DCLIP_WEIGHTS_MIRROR=URL fetches the other sources from URL/<file name> instead "
        "(and skips the Hub unless HF_ENDPOINT is set); DCLIP_OFFLINE=1 never uses the network.",
    )
    p_download.add_argument("name", metavar="NAME", help="model name (see `dclip models list`)")
    p_download.add_argument("--quiet", action="store_true", help="no progress bar")
    p_download.set_defaults(handler=run_download)

    p_import = sub.add_parser(
        "import",
        help="register a weights file you downloaded yourself (e.g. on another machine)",
        description="Copy a weights file into the cache after checking that it is one of the "
        "model's files: by its pinned sha256, or, for a Hub safetensors file whose sha256 DCLIP "
        "does not pin, by holding exactly the model's parameters (its sha256 is then recorded).",
    )
    p_import.add_argument("name", metavar="NAME", help="model name (see `dclip models list`)")
    p_import.add_argument("path", metavar="PATH", type=Path, help="the weights file")
    p_import.set_defaults(handler=run_import)

    p_info = sub.add_parser(
        "info",
        help="show a model's weights, bundle, fingerprint and execution provider",
        description="Show what DCLIP knows about a registered model or an exported bundle: "
        "weights state, bundle folder and fingerprint, ONNX Runtime providers and the one "
        "'auto' picks (with the reason when CUDA is listed but unusable).",
    )
    p_info.add_argument("target", metavar="NAME|BUNDLE", help="model name or bundle folder")
    p_info.add_argument("--json", action="store_true", help="machine-readable output")
    p_info.set_defaults(handler=run_info)

    p_activate = sub.add_parser(
        "activate",
        help="make a bundle the library's model (embeds the photos; old vectors kept)",
        description="Make BUNDLE (e.g. the bundle/ of a `dclip finetune` run) the model the "
        "library and the app search with. Photos are embedded with it first while searches keep "
        "using the current model; nothing is embedded when the library still holds its vectors. "
        "The model it replaces is remembered for `dclip models rollback`.",
    )
    p_activate.add_argument("bundle", metavar="BUNDLE", help="bundle folder or bundle name")
    _switch_arguments(p_activate)
    p_activate.set_defaults(handler=run_activate)

    p_rollback = sub.add_parser(
        "rollback",
        help="go back to the library's previous model (no re-embedding while its vectors exist)",
    )
    _switch_arguments(p_rollback)
    p_rollback.set_defaults(handler=run_rollback)


def _switch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--events",
        choices=["text", "jsonl"],
        default="text",
        help="progress as a bar on stderr (default), or JSON lines on stdout: "
        '{"event": "progress", "done", "total", …} while embedding, then {"event": "result", …}',
    )
    # For the app's child process: stop embedding (at the next batch) once stdin closes.
    parser.add_argument("--stop-on-eof", action="store_true", help=argparse.SUPPRESS)


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


def run_info(args: argparse.Namespace) -> int:
    from dclip_core.export import bundle_path_for
    from dclip_core.models.weights import cached_weights_path
    from dclip_core.runtime.bundle import MANIFEST_NAME, load_manifest, resolve_bundle
    from dclip_core.runtime.session import describe_providers

    info: dict[str, Any] = {"model": None, "weights": None, "bundle": None}
    spec: ModelSpec | None
    try:
        spec = get_model_spec(args.target)
        bundle_dir = bundle_path_for(spec.name)
    except UnknownModelError as unknown:
        # Not a registered name: a bundle folder, or the name of one in the bundles folder.
        spec = None
        target = Path(args.target)
        if target.exists() or "/" in args.target or "\\" in args.target:
            bundle_dir = resolve_bundle(args.target)
        else:
            try:
                bundle_dir = resolve_bundle(args.target)
            except BundleError:
                raise unknown from None
    if spec is not None:
        cached = cached_weights_path(spec)
        info["model"] = spec.to_json()
        info["weights"] = {
            "needed": spec.weights is not None,
            "path": str(cached) if cached else None,
            "sources": [_describe_source(spec, source) for source in spec.weights_sources],
            "state": "random init (no weights)"
            if spec.weights is None
            else ("cached" if cached else f"missing (run `dclip models download {spec.name}`)"),
        }
        if spec.meaningless:
            warn_meaningless(spec.name)
    if (bundle_dir / MANIFEST_NAME).is_file():
        manifest = load_manifest(bundle_dir)
        info["bundle"] = {
            "path": str(manifest.path),
            "name": manifest.name,
            "kind": manifest.kind,
            "model_spec": manifest.model_spec,
            "base_model": manifest.base_model,
            "embed_dim": manifest.embed_dim,
            "fingerprint": manifest.fingerprint,
            "variants": {name: v.quality for name, v in manifest.variants.items()},
            "created": manifest.created,
            "meaningless": manifest.meaningless,
        }
        if spec is None and manifest.meaningless:
            warn_meaningless(manifest.name)
    info["providers"] = describe_providers()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    _print_info(info, bundle_dir)
    return 0


def _describe_source(spec: ModelSpec, source: WeightsSource) -> dict[str, Any]:
    """A source as ``models info`` shows it: where, which revision, which hash is expected."""
    from dclip_core.models.hub_download import hub_endpoint
    from dclip_core.models.weights import weights_file_path
    from dclip_core.models.weights_stamp import expected_sha256, read_stamp

    record = read_stamp(weights_file_path(spec, source))
    sha256 = expected_sha256(source, record)
    row = source.to_json()
    if source.hub is None:
        row["text"] = f"{source.label or 'URL'}: {source.urls[0]} (sha256 {source.sha256})"
        return row
    revision = source.hub.revision or (record.revision if record and sha256 else None)
    pinned = "pinned" if source.hub.revision else ("recorded" if revision else "not pinned")
    if source.sha256:
        expected = f"sha256 {source.sha256}"
    elif sha256:
        expected = f"sha256 {sha256} (recorded at the first download)"
    else:
        expected = "sha256 as the Hub declares it for the LFS file at that revision, then recorded"
    row.update(endpoint=hub_endpoint(), revision=revision, expected_sha256=sha256)
    row["text"] = (
        f"{source.label}: {source.hub.repo_id}, {source.hub.filename} at revision "
        f"{revision or 'main'} ({pinned}; {expected}) from {hub_endpoint()}"
    )
    return row


def _print_info(info: dict[str, Any], bundle_dir: Path) -> None:
    rows: list[tuple[str, str]] = []
    if info["model"] is not None:
        model, weights = info["model"], info["weights"]
        rows.append(("model", f"{model['name']} - {model['description']}"))
        rows.append(("base", model["base"]))
        rows.append(("embed dim", str(model["embed_dim"])))
        state = weights["state"] + (f": {weights['path']}" if weights["path"] else "")
        rows.append(("weights", state))
        for number, source in enumerate(weights["sources"], start=1):
            rows.append((f"source {number}", source["text"]))
    bundle = info["bundle"]
    if bundle is None:
        rows.append(("bundle", f"not exported yet (would be {bundle_dir})"))
    else:
        rows.append(("bundle", f"{bundle['path']} ({bundle['kind']}, {bundle['base_model']})"))
        rows.append(("fingerprint", bundle["fingerprint"]))
        variants = ["fp32"] + [
            f"{name} (mean cosine vs fp32: image {q.get('image_mean_cosine', float('nan')):.4f}, "
            f"text {q.get('text_mean_cosine', float('nan')):.4f})"
            for name, q in bundle["variants"].items()
        ]
        rows.append(("variants", "; ".join(variants)))
    providers = info["providers"]
    rows.append(("providers", ", ".join(providers["available"])))
    rows.append(("auto picks", f"{providers['auto']} ({providers['reason']})"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


def _switch_json(switch: Any) -> dict[str, Any]:
    def row(model: Any) -> dict[str, Any] | None:
        if model is None:
            return None
        return {"name": model.name, "fingerprint": model.fingerprint, "bundle": model.bundle_path}

    return {
        "switched": switch.switched,
        "active": row(switch.active),
        "previous": row(switch.previous),
        "embedded": switch.embedded,
    }


class _SwitchProgress:
    """Progress of an activation's or rollback's embedding: a bar on stderr, or JSON lines."""

    def __init__(self, events: str) -> None:
        from tqdm import tqdm

        from dclip_core.cancel import CancelToken

        self.jsonl = events == "jsonl"
        self.cancel = CancelToken()
        self.bar = tqdm(
            total=0, unit="photo", file=sys.stderr, disable=True if self.jsonl else None
        )
        self.last_line = 0.0

    def __call__(self, progress: IndexProgress) -> None:
        if self.jsonl:
            now = time.monotonic()
            if now - self.last_line < 0.2 and progress.done < progress.total:
                return  # at most five lines a second, and always the last one
            self.last_line = now
            line = {
                "event": "progress",
                "phase": progress.phase,
                "done": progress.done,
                "total": progress.total,
                "embedded": progress.embedded,
                "rate": round(progress.rate, 2),
                "eta_s": None if progress.eta_s is None else round(progress.eta_s, 1),
            }
            print(json.dumps(line), flush=True)
            return
        if self.bar.total != progress.total:
            self.bar.total = progress.total
        self.bar.n = progress.done
        self.bar.set_description(f"embedding ({progress.phase})")
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _report_switch(switch: Any, as_json: bool, verb: str, events: str = "text") -> int:
    from dclip_core.config import load_settings, save_settings

    if switch.switched and switch.active is not None and switch.active.bundle_path:
        # Later `dclip index` runs and the app use the model searches use.
        settings = load_settings()
        settings.model = switch.active.bundle_path
        save_settings(settings)
    if events == "jsonl":
        print(json.dumps({"event": "result", **_switch_json(switch)}), flush=True)
    elif as_json:
        print(json.dumps(_switch_json(switch), indent=2))
    elif switch.switched:
        how = (
            f"embedded {switch.embedded} photos"
            if switch.embedded
            else "its vectors were stored: nothing embedded"
        )
        back = (
            f"; `dclip models rollback` goes back to {switch.previous.name}"
            if switch.previous is not None
            else ""
        )
        print(f"{verb} {switch.active.name} ({how}){back}")
    else:
        still = switch.active.name if switch.active is not None else "nothing"
        print(
            f"embedding stopped after {switch.embedded} photos; searches still use {still}; "
            "run the same command again to continue"
        )
    return 0 if switch.switched else 130


def run_activate(args: argparse.Namespace) -> int:
    from dclip_core.config import load_settings
    from dclip_core.library import Library
    from dclip_core.library.activation import activate
    from dclip_core.runtime.bundle import resolve_bundle
    from dclip_core.runtime.encoders import ClipEncoder

    settings = load_settings()
    progress = _switch_progress(args)
    try:
        encoder = ClipEncoder.load(
            resolve_bundle(args.bundle),
            provider=settings.execution_provider,
            threads=settings.threads,
        )
        with Library.open(settings=settings) as library:
            switch = activate(library, encoder, progress=progress, cancel=progress.cancel)
    finally:
        progress.close()
    return _report_switch(switch, args.json, "active model:", args.events)


def run_rollback(args: argparse.Namespace) -> int:
    from dclip_core.library import Library
    from dclip_core.library.activation import rollback

    progress = _switch_progress(args)
    try:
        with Library.open() as library:
            switch = rollback(library, progress=progress, cancel=progress.cancel)
    finally:
        progress.close()
    return _report_switch(switch, args.json, "rolled back to", args.events)


def _switch_progress(args: argparse.Namespace) -> _SwitchProgress:
    from dclip_core.cancel import cancel_when_stdin_closes

    progress = _SwitchProgress(args.events)
    if args.stop_on_eof:
        cancel_when_stdin_closes(progress.cancel, name="dclip-models-stdin")
    return progress
