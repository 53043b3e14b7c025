"""``dclip explain PHOTO QUERY``: which regions of a photo each span of a query attends to.

Prints the regions (label, box, confidence) and the span x region weights of one view (a layer or
rollout, a head or the mean of heads), or everything as JSON (``dclip.explain/1``, every layer
and head included); ``--png`` writes the overlay, one tile per span. How to read it:
docs/cli-explain.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dclip_core.cli import command

if TYPE_CHECKING:
    from dclip_core.explain import AttentionView, Explanation

EXPLAIN_SCHEMA = "dclip.explain/1"


def _layer(value: str) -> int | str:
    if value == "rollout":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--layer takes a layer number (0 = first, -1 = last) or 'rollout', not {value!r}"
        ) from None


@command("explain", "show which photo regions each word of a query attends to")
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("photo", type=Path, metavar="PHOTO", help="the photo to explain")
    parser.add_argument("query", metavar="QUERY", help="the text to explain, e.g. 'a red circle'")
    parser.add_argument(
        "--model",
        metavar="BUNDLE",
        help="bundle folder, bundle name or registered model (default: the Model setting)",
    )
    parser.add_argument(
        "--method",
        choices=("teacher", "similarity"),
        help="teacher: the DCLIP teacher's attention (bundles with explain/); similarity: "
        "training-free, any bundle (default: teacher when the bundle has one)",
    )
    parser.add_argument(
        "--layer",
        type=_layer,
        default=-1,
        metavar="L",
        help="teacher layer to show (0 = first, -1 = last, default) or 'rollout' over all layers",
    )
    parser.add_argument(
        "--head", type=int, metavar="H", help="attention head to show (default: mean of heads)"
    )
    parser.add_argument(
        "--spans",
        choices=("tokens", "phrases"),
        help="split the query into tokens or noun phrases (default: the method's own)",
    )
    parser.add_argument(
        "--direction",
        choices=("text_to_region", "region_to_text"),
        default="text_to_region",
        help="which attention to print (default: text_to_region, each span over the regions)",
    )
    parser.add_argument("--png", type=Path, metavar="OUT", help="write the overlay PNG here")
    parser.add_argument(
        "--scale",
        choices=("span", "absolute"),
        default="span",
        help="overlay colours: span = each span's strongest region full colour (default), "
        "absolute = the weight itself",
    )
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    parser.set_defaults(handler=run_explain)


def run_explain(args: argparse.Namespace) -> int:
    from dclip_core.cli.library_cmd import load_encoder
    from dclip_core.explain import AttentionView, Explainer, ExplainError, write_overlay_png

    encoder = load_encoder(args.model)
    explainer = Explainer(encoder, threads=encoder.threads)
    explanation = explainer.explain(
        args.photo, args.query, method=args.method, span_mode=args.spans
    )
    view = AttentionView(direction=args.direction, layer=args.layer, head=args.head)
    try:
        explanation.weights(view)
    except ValueError as exc:
        raise ExplainError(f"{exc} (method {explanation.method})") from None
    if args.png is not None:
        decoded = explainer.photo_image(explanation)
        assert decoded is not None  # just explained: its photo is cached
        write_overlay_png(args.png, decoded.image, explanation, view, scale=args.scale)
    if args.json:
        data: dict[str, Any] = {"schema": EXPLAIN_SCHEMA, **explanation.to_json(view)}
        if args.png is not None:
            data["png"] = str(args.png)
        print(json.dumps(data, indent=2))
        return 0
    print(format_table(explanation, view))
    if args.png is not None:
        print(f"overlay written to {args.png}")
    return 0


def describe_view(explanation: Explanation, view: AttentionView) -> str:
    """``"layer 2 of 2, mean of 8 heads"`` / ``"rollout over 2 layers"`` for the header."""
    if view.layer == "rollout":
        where = f"rollout over {explanation.layers} layers, heads averaged"
    else:
        index = view.layer if view.layer >= 0 else explanation.layers + view.layer
        heads = (
            f"mean of {explanation.heads} heads"
            if view.head is None
            else f"head {view.head} of {explanation.heads}"
        )
        where = f"layer {index} of {explanation.layers} (0-based), {heads}"
    arrow = "span -> region" if view.direction == "text_to_region" else "region -> span"
    return f"{arrow}, {where}"


def format_table(explanation: Explanation, view: AttentionView) -> str:
    """The human-readable report: header, caveats, regions, and the weight table."""
    width, height = explanation.image_size
    lines = [
        f"photo   {explanation.photo} ({width}x{height})",
        f"query   {explanation.query!r} (model read {explanation.model_text!r})",
        f"model   {explanation.bundle_name} [{explanation.bundle_fingerprint}]",
        f"method  {explanation.method}: {explanation.method_summary}",
        f"view    {describe_view(explanation, view)}; spans: {explanation.span_mode}; "
        f"regions: {explanation.region_source}",
    ]
    lines += [f"NOTE    {caveat}" for caveat in explanation.caveats]
    lines.append("")
    lines.append("regions")
    for index, region in enumerate(explanation.regions):
        x1, y1, x2, y2 = region.box
        lines.append(
            f"  r{index:<3d}{region.label[:18]:<19}"
            f"({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f})  conf {region.confidence:.2f}"
        )
    weights = explanation.weights(view)
    if view.direction == "region_to_text":
        weights = weights.T  # always spans as rows, regions as columns
    lines.append("")
    header = f"{'span':<24}" + "".join(f"{f'r{i}':>6}" for i in range(len(explanation.regions)))
    lines.append(header + "   top")
    for span, row in zip(explanation.spans, weights, strict=True):
        # [a]: a word the query template added; <end>: the end token of a query with no span
        label = span.text or "<end>"
        label = label if span.chars is not None else f"[{label}]"
        top = int(row.argmax())
        cells = "".join(f"{value:6.2f}" for value in row)
        lines.append(f"{label[:23]:<24}{cells}   r{top} {explanation.regions[top].label}")
    return "\n".join(lines)
