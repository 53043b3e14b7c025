"""``dclip annotate``: export, import, status and detector suggestions of the library's annotations.

The library is ``get_paths().library_dir`` (``--home``/``DCLIP_HOME`` move it). Formats and what
an import refuses: docs/annotations.md. Every write is one transaction; ``suggest`` commits each
photo, so Ctrl-C keeps the photos done.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dclip_core.cli import command
from dclip_core.errors import DclipError

if TYPE_CHECKING:
    from dclip_core.library import Library
    from dclip_core.runtime.detector import Detector

STATUS_SCHEMA = "dclip.annotate-status/1"
MAX_LISTED_PROBLEMS = 50


class AnnotateUsageError(DclipError):
    exit_code = 2


@command("annotate", "export, import and review photo annotations (captions, labelled boxes)")
def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="annotate_command", metavar="ACTION", required=True)

    p_export = sub.add_parser("export", help="write the annotations as COCO or DCLIP JSON")
    p_export.add_argument(
        "out", type=Path, help="COCO: a folder (captions.json, instances.json); json: a file"
    )
    p_export.add_argument("--format", choices=("coco", "json"), default="coco")
    p_export.add_argument(
        "--folder",
        type=Path,
        help="only photos under this library folder; "
        "file names are relative to it (default: the library's folders)",
    )
    p_export.set_defaults(handler=run_export)

    p_import = sub.add_parser("import", help="read COCO or DCLIP JSON annotations into the library")
    p_import.add_argument(
        "files",
        type=Path,
        nargs="+",
        help="COCO captions/instances files or a folder holding them; or one DCLIP JSON file",
    )
    p_import.add_argument("--format", choices=("coco", "json"), default="coco")
    p_import.add_argument(
        "--images",
        type=Path,
        help="the folder file names are relative to (default: each library folder)",
    )
    p_import.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid items "
        "and list the others (default: import nothing when any item is invalid)",
    )
    p_import.set_defaults(handler=run_import)

    p_status = sub.add_parser("status", help="how many photos of each folder are annotated")
    p_status.add_argument("--folder", type=Path, help="only folders under this one")
    p_status.add_argument("--json", action="store_true", help=f"print {STATUS_SCHEMA} JSON")
    p_status.set_defaults(handler=run_status)

    p_suggest = sub.add_parser(
        "suggest", help="run a detector over a folder and store its boxes as suggestions to review"
    )
    p_suggest.add_argument("folder", type=Path, help="a folder of the library")
    p_suggest.add_argument(
        "--detector",
        metavar="NAME",
        help="a registered detector (needs "
        "torch; default: the active model bundle's explain/detector.onnx)",
    )
    p_suggest.add_argument("--conf", type=float, default=None, help="score threshold")
    p_suggest.set_defaults(handler=run_suggest)


def _open() -> Library:
    from dclip_core.library import Library

    return Library.open()


def run_export(args: argparse.Namespace) -> int:
    from dclip_core.library.annotation_formats import export_files

    with _open() as library:
        summary = export_files(library.annotations(), args.format, args.out, folder=args.folder)
    for path in summary.files:
        print(path)
    print(
        f"dclip: exported {summary.annotated} annotated of {summary.photos} photos under "
        f"{summary.base}",
        file=sys.stderr,
    )
    return 0


def run_import(args: argparse.Namespace) -> int:
    from dclip_core.library.annotation_formats import import_files

    with _open() as library:
        report = import_files(
            library.annotations(),
            args.format,
            list(args.files),
            images=args.images,
            skip_invalid=args.skip_invalid,
        )
    for problem in report.problems[:MAX_LISTED_PROBLEMS]:
        print(f"dclip: {problem}", file=sys.stderr)
    if len(report.problems) > MAX_LISTED_PROBLEMS:
        print(f"dclip: … and {len(report.problems) - MAX_LISTED_PROBLEMS} more", file=sys.stderr)
    if not report.applied:
        print(
            f"dclip: nothing imported: {len(report.problems)} invalid items (listed above); fix "
            "them, or pass --skip-invalid to import the rest",
            file=sys.stderr,
        )
        return 1
    print(f"dclip: imported {report.summary()}", file=sys.stderr)
    return 0


def run_status(args: argparse.Namespace) -> int:
    folder = str(args.folder.expanduser().absolute()) if args.folder else None
    with _open() as library:
        rows = library.annotations().progress(folder)
        labels = [label.name for label in library.annotations().labels()]
    if args.json:
        print(
            json.dumps(
                {
                    "schema": STATUS_SCHEMA,
                    "labels": labels,
                    "folders": [
                        {
                            "folder": r.folder,
                            "photos": r.photos,
                            "annotated": r.annotated,
                            "captioned": r.captioned,
                            "boxed": r.boxed,
                            "suggested": r.suggested,
                        }
                        for r in rows
                    ],
                },
                indent=1,
            )
        )
        return 0
    if not rows:
        print("no photos in the library yet; run `dclip index FOLDER`")
        return 0
    print(f"{'photos':>7} {'annotated':>9} {'captioned':>9} {'boxed':>6} {'to review':>9}  folder")
    for r in rows:
        print(
            f"{r.photos:>7} {r.annotated:>9} {r.captioned:>9} {r.boxed:>6} {r.suggested:>9}  "
            f"{r.folder}"
        )
    print(f"labels: {', '.join(labels) or 'none'}")
    return 0


def _detector(library: Library, name: str | None, conf: float | None) -> Detector:
    from dclip_core.runtime.bundle import load_manifest
    from dclip_core.runtime.detector import OnnxDetector

    if name is not None:
        from dclip_core.models.detector import create_detector

        return create_detector(name, conf=0.25 if conf is None else conf)
    model = library.search_model()
    if model is not None and model.bundle_path:
        manifest = load_manifest(Path(model.bundle_path))
        entry = (manifest.explain or {}).get("detector")
        if entry:
            return OnnxDetector(manifest.file_path(str(entry["file"])), conf=conf)
    raise AnnotateUsageError(
        "the library's model bundle has no explain/detector.onnx; give a registered detector "
        "with --detector NAME (e.g. yolov8n)"
    )


def run_suggest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dclip_core.cancel import CancelToken
    from dclip_core.library.annotation_suggest import SuggestReport, suggest_boxes

    folder = args.folder.expanduser().absolute()
    cancel = CancelToken()
    # A bar on a terminal; nothing per photo in a log (tqdm turns itself off there).
    bar = tqdm(total=0, unit="photo", desc="suggesting", file=sys.stderr, disable=None)

    def progress(report: SuggestReport, path: str) -> None:
        bar.total = report.photos
        bar.n = report.done
        bar.set_postfix(boxes=report.suggested, refresh=False)
        bar.refresh()

    with _open() as library:
        detector = _detector(library, args.detector, args.conf)
        try:
            report = suggest_boxes(
                library.annotations(), detector, folder, progress=progress, cancel=cancel
            )
        except KeyboardInterrupt:
            report = None
        finally:
            bar.close()
    if report is None:
        print("dclip: stopped; the suggestions stored so far are kept", file=sys.stderr)
        return 130
    for path, reason in report.failed:
        print(f"dclip: skipped {path}: {reason}", file=sys.stderr)
    if report.photos == 0:
        raise AnnotateUsageError(f"no indexed photos under {folder}; run `dclip index` first")
    print(
        f"dclip: {report.suggested} boxes suggested on {report.done} photos "
        f"({report.skipped_known} already there or rejected); review them in the app",
        file=sys.stderr,
    )
    return 0
