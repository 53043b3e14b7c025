"""``dclip index``, ``dclip search``, ``dclip status`` and ``dclip forget``: the photo library.

The library lives in ``get_paths().library_dir`` (so ``--home``/``DCLIP_HOME`` move it). The JSON
printed by ``--json`` is a stable, versioned schema documented in docs/cli-search.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dclip_core.cli import command, warn_meaningless
from dclip_core.errors import DclipError

if TYPE_CHECKING:
    from dclip_core.library import IndexProgress, Library, LibraryStatus, SearchResponse
    from dclip_core.library.query import SortOrder
    from dclip_core.runtime.encoders import ClipEncoder

SEARCH_SCHEMA = "dclip.search/1"
STATUS_SCHEMA = "dclip.status/1"
_SORTS: dict[str, SortOrder] = {"score": "score", "newest": "date_desc", "oldest": "date_asc"}


class CliUsageError(DclipError):
    """A flag value the command cannot use."""

    exit_code = 2


def _open_library() -> Library:
    from dclip_core.library import Library

    return Library.open()


def load_encoder(
    model: str | None, *, variant: str = "fp32", spinning: bool = True
) -> ClipEncoder:
    """The encoder of ``--model``: a bundle folder, a bundle name, or a registered model name.

    A registered model without a bundle is exported on first use (this needs torch, which is why
    it happens here and never in :mod:`dclip_core.library`). ``variant`` and ``spinning`` are
    passed to :meth:`ClipEncoder.load`.
    """
    from dclip_core.config import get_paths, load_settings
    from dclip_core.runtime.encoders import ClipEncoder

    settings = load_settings()
    name = model or settings.model
    candidate = Path(name).expanduser()
    if not candidate.is_dir() and not (get_paths().bundles_dir / name / "bundle.json").is_file():
        from dclip_core.export import ensure_bundle

        candidate = ensure_bundle(name, progress=lambda line: print(line, file=sys.stderr))
    else:
        candidate = candidate if candidate.is_dir() else get_paths().bundles_dir / name
    encoder = ClipEncoder.load(
        candidate,
        provider=settings.execution_provider,
        threads=settings.threads,
        variant=variant,
        spinning=spinning,
    )
    if encoder.manifest.meaningless:
        warn_meaningless(encoder.manifest.name)
    return encoder


# --- dclip index ----------------------------------------------------------------------------------


@command("index", "add photo folders to the library and index new or changed photos")
def configure_index(parser: argparse.ArgumentParser) -> None:
    from dclip_core.library.regions import LAYOUTS

    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        type=Path,
        help="folders to add and index (default: every folder already in the library)",
    )
    parser.add_argument(
        "--model",
        metavar="BUNDLE",
        help="bundle folder, bundle name or registered model (default: the Model setting)",
    )
    parser.add_argument(
        "--regions",
        choices=sorted(LAYOUTS),
        help="also embed a grid of crops of each photo, so small things and the edges of wide "
        "photos are found (5x the indexing work; default: what the library uses, else none)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=0,
        help="images per inference batch (0 = by provider: 8 on the CPU, 32 on a GPU)",
    )
    parser.add_argument("--workers", type=int, default=0, help="decoding threads (0 = per core)")
    parser.add_argument(
        "--variant",
        choices=("fp32", "int8", "fp16"),
        default="fp32",
        help="encoding of the image tower to run: int8 (CPU) and fp16 (GPU) exist when the "
        "bundle was exported with them (dclip export --int8/--fp16); each variant is its own "
        "set of vectors",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run_index)


def run_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dclip_core.library import CancelToken

    if args.batch_size < 0 or args.workers < 0:
        raise CliUsageError("--batch-size and --workers must be 0 (automatic) or more")
    # The decoders share the cores with the model: its idle threads must not spin.
    encoder = load_encoder(args.model, variant=args.variant, spinning=False)
    library = _open_library()
    bar = tqdm(total=0, unit="photo", file=sys.stderr, disable=None, dynamic_ncols=True)
    cancel = CancelToken()

    def on_progress(progress: IndexProgress) -> None:
        if bar.total != progress.total:
            bar.total = progress.total
        bar.n = progress.done
        bar.set_description(progress.phase)
        bar.set_postfix(failed=progress.failed, reused=progress.reused, refresh=False)
        bar.refresh()

    options = library.index_options(
        batch_size=args.batch_size, workers=args.workers, regions=args.regions
    )
    try:
        report = library.index(
            args.paths or None,
            encoder=encoder,
            progress=on_progress,
            cancel=cancel,
            options=options,
        )
    finally:
        bar.close()
        library.close()
    if args.json:
        out = {
            "model": {"name": report.model_name, "fingerprint": report.model_fingerprint},
            "scanned": report.scanned,
            "unchanged": report.unchanged,
            "embedded": report.embedded,
            "moved": report.moved,
            "copied": report.copied,
            "touched": report.touched,
            "failed": report.failed,
            "removed": report.removed,
            "cancelled": report.cancelled,
            "model_complete": report.model_complete,
            "seconds": round(report.seconds, 3),
            "problems": [{"path": p.path, "reason": p.reason} for p in report.problems],
        }
        print(json.dumps(out, indent=2))
        return 0
    for problem in report.problems:
        print(f"dclip: warning: {problem.path}: {problem.reason}", file=sys.stderr)
    print(
        f"{report.scanned} photos found: {report.embedded} embedded, {report.reused} reused "
        f"(moved {report.moved}, copied {report.copied}), {report.unchanged} unchanged, "
        f"{report.failed} failed, {report.removed} removed, in {report.seconds:.1f} s "
        f"({report.model_name})"
    )
    if report.failed:
        print("see `dclip status` for the files that could not be used and why")
    return 0


# --- dclip search ---------------------------------------------------------------------------------


def _iso_date(value: str) -> str:
    try:
        return datetime.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM"
        ) from None


@command("search", "search the library with text, example images, or both")
def configure_search(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "query",
        nargs="*",
        metavar="QUERY",
        help="text to search for; prefix a weight as in 2:sunset (see docs/cli-search.md)",
    )
    parser.add_argument(
        "--image", action="append", default=[], metavar="PATH", help="example image (repeatable)"
    )
    parser.add_argument(
        "--minus", action="append", default=[], metavar="QUERY", help="text to avoid (repeatable)"
    )
    parser.add_argument(
        "--minus-image", action="append", default=[], metavar="PATH", help="image to avoid"
    )
    parser.add_argument("--limit", type=int, default=20, help="results to show (default 20)")
    parser.add_argument("--offset", type=int, default=0, help="skip this many results first")
    parser.add_argument(
        "--folder", action="append", default=[], type=Path, help="only photos under this folder"
    )
    parser.add_argument("--after", type=_iso_date, help="only photos taken on or after this date")
    parser.add_argument("--before", type=_iso_date, help="only photos taken before this date")
    parser.add_argument(
        "--sort", choices=sorted(_SORTS), default="score", help="order (newest/oldest: relevant)"
    )
    parser.add_argument(
        "--relevant-only", action="store_true", help="hide results below the relevance cutoff"
    )
    parser.add_argument(
        "--sensitivity",
        type=float,
        help="relevance cutoff: top 1/(1+S) of median..best (setting default)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run_search)


def search_json(response: SearchResponse) -> dict[str, Any]:
    """The documented ``dclip.search/1`` object of a response."""
    q = response.query
    relevance = response.relevance
    return {
        "schema": SEARCH_SCHEMA,
        "query": {
            "text": [{"text": t.text, "weight": t.weight} for t in q.texts],
            "minus": [{"text": t.text, "weight": t.weight} for t in q.minus_texts],
            "images": [
                {
                    "path": str(t.path) if t.path else None,
                    "image_id": t.image_id,
                    "weight": t.weight,
                }
                for t in q.images
            ],
            "minus_images": [
                {
                    "path": str(t.path) if t.path else None,
                    "image_id": t.image_id,
                    "weight": t.weight,
                }
                for t in q.minus_images
            ],
            "folders": [str(f) for f in q.folders],
            "after": q.after,
            "before": q.before,
            "limit": q.limit,
            "offset": q.offset,
            "sort": q.sort,
        },
        "model": {"name": response.model, "fingerprint": response.model_fingerprint},
        "took_ms": round(response.took_ms, 3),
        "relevance": {
            "threshold": relevance.threshold,
            "background_median": relevance.background_median,
            "background_spread": relevance.background_spread,
            "sample_size": relevance.sample_size,
            "sensitivity": relevance.sensitivity,
        },
        "total_candidates": response.total_candidates,
        "results": [
            {
                "rank": r.rank,
                "path": str(r.path),
                "score": r.score,
                "relevant": r.relevant,
                "image_id": r.image_id,
                "taken_at": r.taken_at,
                "width": r.width,
                "height": r.height,
                "size_bytes": r.size_bytes,
                "region": list(r.region) if r.region else None,
            }
            for r in response.results
        ],
        "warnings": response.warnings,
    }


def run_search(args: argparse.Namespace) -> int:
    from dclip_core.library import SearchQuery
    from dclip_core.library.regions import describe_box

    if args.limit < 1 or args.offset < 0:
        raise CliUsageError("--limit must be at least 1 and --offset at least 0")
    if not (args.query or args.image):
        raise CliUsageError("nothing to search for: give a QUERY, an --image, or both")
    query = SearchQuery.from_strings(
        args.query,
        minus=args.minus,
        images=args.image,
        minus_images=args.minus_image,
        folders=tuple(Path(f).expanduser().resolve() for f in args.folder),
        after=args.after,
        before=args.before,
        limit=args.limit,
        offset=args.offset,
        sort=_SORTS[args.sort],
        sensitivity=args.sensitivity,
    )
    with _open_library() as library:
        model = library.search_model()
        if model is not None and (args.query or args.minus):
            library.encoder_for(model)  # load before timing: took_ms is the search itself
        response = library.search(query)
    results = [r for r in response.results if r.relevant or not args.relevant_only]
    if args.json:
        out = search_json(response)
        out["results"] = [r for r in out["results"] if r["relevant"] or not args.relevant_only]
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    for warning in response.warnings:
        print(f"dclip: warning: {warning}", file=sys.stderr)
    if not results:
        print("no results")
    for r in results:
        mark = "*" if r.relevant else " "
        where = f"  ({describe_box(r.region)})" if r.region else ""
        print(f"{r.rank:>4} {r.score:.4f}{mark} {r.path}{where}")
    print(
        f"{sum(r.relevant for r in results)} of {len(results)} stand out (score >= "
        f"{response.relevance.threshold:.4f}, marked *); {response.took_ms:.1f} ms, "
        f"{response.model}",
        file=sys.stderr,
    )
    return 0


# --- dclip status ---------------------------------------------------------------------------------


@command("status", "show the library: folders, counts, models and files that failed")
def configure_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--failed", type=int, default=50, help="failed files to list (text mode)")
    parser.set_defaults(handler=run_status)


def status_json(status: LibraryStatus, failed: list[Any]) -> dict[str, Any]:
    return {
        "schema": STATUS_SCHEMA,
        "library": str(status.library_dir),
        "schema_version": status.schema_version,
        "images": status.images,
        "failed": status.failed,
        "writer_pid": status.writer_pid,
        "roots": [
            {
                "path": str(r.path),
                "images": r.images,
                "failed": r.failed,
                "status": r.status,
                "last_indexed_at": r.last_indexed_at,
            }
            for r in status.roots
        ],
        "models": [
            {
                "name": m.name,
                "fingerprint": m.fingerprint,
                "embed_dim": m.embed_dim,
                "bundle": str(m.bundle_path) if m.bundle_path else None,
                "embedded": m.embedded,
                "complete": m.complete,
                "active": m.active,
                "regions": m.regions,
            }
            for m in status.models
        ],
        "failed_files": [
            {"path": str(f.path), "code": f.code, "reason": f.reason, "size_bytes": f.size_bytes}
            for f in failed
        ],
    }


def run_status(args: argparse.Namespace) -> int:
    with _open_library() as library:
        status = library.status()
        failed = library.failed_files(None if args.json else max(args.failed, 0))
    if args.json:
        print(json.dumps(status_json(status, failed), indent=2, ensure_ascii=False))
        return 0
    print(f"library: {status.library_dir}")
    print(f"photos: {status.images} indexed, {status.failed} could not be used")
    for root in status.roots:
        print(f"  {root.path}: {root.images} photos, {root.failed} failed ({root.status})")
    for model in status.models:
        state = "active" if model.active else ("complete" if model.complete else "in progress")
        regions = "" if model.regions == "none" else f", with {model.regions} regions"
        print(
            f"model {model.name} [{model.fingerprint}]: {model.embedded} photos embedded"
            f"{regions}, {state}"
        )
    if failed:
        print("files that could not be used (not retried until they change):")
        for f in failed:
            print(f"  {f.path}: {f.reason}")
        if status.failed > len(failed):
            print(f"  … and {status.failed - len(failed)} more (dclip status --json lists all)")
    return 0


# --- dclip forget ---------------------------------------------------------------------------------


@command("forget", "remove a folder from the library (the photos themselves are not touched)")
def configure_forget(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="PATH", help="a folder of the library")
    parser.set_defaults(handler=run_forget)


def run_forget(args: argparse.Namespace) -> int:
    with _open_library() as library:
        removed = library.remove_root(args.path)
    print(f"forgot {args.path.expanduser().resolve()}: {removed} photos left the library")
    return 0
