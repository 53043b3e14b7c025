"""``dclip eval``: retrieval and zero-shot metrics of several models on the same data, one run.

The first ``--model`` is the baseline: the report gives every other model's change against it
(absolute and relative Recall@K, MRR, mAP; zero-shot retention). A model is a registry name, a
student checkpoint (``student.safetensors``) or an exported bundle folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dclip_core.cli import command
from dclip_core.errors import ConfigError, DatasetError


@command("eval", "measure retrieval and zero-shot accuracy, base vs student, in one run")
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="MODEL",
        help="registry name, student .safetensors or bundle folder; the first is the baseline",
    )
    parser.add_argument(
        "--retrieval",
        metavar="SPEC",
        help="captioned images as FORMAT=PATH[,images=DIR] (e.g. karpathy=dataset_flickr30k.json,"
        "images=flickr30k-images)",
    )
    parser.add_argument(
        "--split",
        default=None,
        help="keep only images of this split (e.g. test for Karpathy); default: all",
    )
    parser.add_argument("--max-images", type=int, help="evaluate on the first N images only")
    parser.add_argument("--zeroshot", type=Path, metavar="DIR", help="a folder of class folders")
    parser.add_argument("--max-per-class", type=int, help="zero-shot images per class")
    parser.add_argument(
        "--template",
        action="append",
        metavar="TEXT",
        help='prompt template with {} for the class (default: "a photo of a {}"); '
        "repeat to ensemble",
    )
    parser.add_argument("--device", default="cpu", help="torch device for torch models")
    parser.add_argument("--out", type=Path, metavar="DIR", help="write report.json and report.md")
    parser.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    parser.set_defaults(handler=run)


def _retrieval_records(args: argparse.Namespace) -> list[Any]:
    from dclip_core.cli.train_cmd import parse_data_spec
    from dclip_core.train.datasets import DATASET_FORMATS, DatasetReport, DatasetSource

    fmt, path, images = parse_data_spec(args.retrieval)
    reader = DATASET_FORMATS.get(fmt)
    if reader is None:
        raise ConfigError(
            f"unknown dataset format {fmt!r}; use one of {', '.join(DATASET_FORMATS)}"
        )
    report = DatasetReport()
    records = reader(DatasetSource(format=fmt, path=path, images=images), report)
    if args.split:
        records = [r for r in records if r.split == args.split]
    if args.max_images:
        records = records[: args.max_images]
    print(f"dclip: retrieval data: {report.summary()}; evaluating {len(records)}", file=sys.stderr)
    if not records:
        raise DatasetError(f"no images to evaluate in {args.retrieval} (split {args.split!r})")
    return records


def run(args: argparse.Namespace) -> int:
    from dclip_core.eval.embedders import open_embedder
    from dclip_core.eval.report import evaluate_models
    from dclip_core.eval.tasks import PAPER_TEMPLATES, ClassFolderDataset

    if not args.retrieval and not args.zeroshot:
        raise ConfigError("nothing to evaluate: give --retrieval SPEC and/or --zeroshot DIR")
    retrieval = _retrieval_records(args) if args.retrieval else None
    zero_shot = (
        ClassFolderDataset.read(args.zeroshot, args.max_per_class) if args.zeroshot else None
    )
    embedders = [open_embedder(spec, device=args.device) for spec in args.model]
    report = evaluate_models(
        embedders,
        retrieval=retrieval,
        zero_shot=zero_shot,
        templates=tuple(args.template or PAPER_TEMPLATES),
        data={
            k: v
            for k, v in {
                "retrieval": args.retrieval,
                "split": args.split,
                "zero-shot": str(args.zeroshot) if args.zeroshot else None,
            }.items()
            if v
        },
    )
    if args.out:
        json_path, md_path = report.write(args.out)
        print(f"dclip: wrote {json_path} and {md_path}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.to_markdown())
    return 0
