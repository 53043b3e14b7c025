"""``dclip bench regions``: search quality with region vectors vs one vector per photo.

The shapes demo is the one library here whose ground truth is known and whose model knows
something: its photos (``scenes.json``) are indexed once per region layout into fresh libraries
with the demo bundle (the real indexer, ANN index and search), and every colour-shape query
("red circle", … 36 of them) is searched in each. Reported per layout: mean precision@10 over the
queries, how many queries find at least 8 right in their top 10, the red-circle hits (the demo's
sample query), the indexing time, and per-query hits. The first layout (``none``) is the
baseline, measured in the same run on the same photos.

Without ``--bundle`` the demo is built (or reused) as ``dclip demo`` builds it: the first run
trains its model, a few minutes on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dclip_core.bench import benchmark


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bundle",
        type=Path,
        help="a shapes-trained bundle (default: the demo's, built if missing)",
    )
    parser.add_argument(
        "--photos",
        type=Path,
        help="a shapes folder with scenes.json (default: the demo's photos)",
    )
    parser.add_argument(
        "--layouts", default="none,grid", help="region layouts to compare, baseline first"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def colour_shape_queries() -> list[tuple[str, str, str]]:
    """The 36 colour-shape queries as ``(query, colour, shape)``: ``("red circle", "red", …)``."""
    from dclip_core.shapes.scenes import COLOURS, SHAPES

    return [(f"{colour} {shape}", colour, shape) for colour in COLOURS for shape in SHAPES]


def colour_shape_truth(photos: Path) -> dict[str, frozenset[str]]:
    """Ground truth of a shapes folder: per colour-shape query, the files holding such an object.

    Raises:
        SystemExit: ``photos`` has no ``scenes.json`` (not a shapes folder).
    """
    from dclip_core.shapes.world import scenes_by_file

    scenes = scenes_by_file(photos)
    if not scenes:
        raise SystemExit(f"dclip bench: {photos} has no scenes.json (not a shapes folder)")
    return {
        query: frozenset(name for name, scene in scenes.items() if scene.has(colour, shape))
        for query, colour, shape in colour_shape_queries()
    }


def demo_inputs(bundle: Path | None = None, photos: Path | None = None) -> tuple[Path, Path]:
    """``bundle`` and ``photos`` as given; what is missing is the demo's (built under the demo
    home if needed, as ``dclip demo`` does)."""
    if bundle is not None and photos is not None:
        return bundle, photos
    from dclip_core.config.paths import HOME_ENV
    from dclip_core.shapes.demo import build_demo, demo_home

    home = demo_home()
    os.environ[HOME_ENV] = str(home)  # the demo's bundle lives in the demo's own home
    demo = build_demo(home, progress=lambda line: print(f"demo: {line}", file=sys.stderr))
    return bundle or demo.bundle, photos or demo.photos


def measure_layout(bundle: Path, photos: Path, layout: str) -> dict[str, Any]:
    """Index ``photos`` with ``layout`` into a fresh library and score every colour-shape query."""
    from dclip_core.library import IndexOptions, Library, SearchQuery
    from dclip_core.runtime.encoders import ClipEncoder

    truth = colour_shape_truth(photos)
    encoder = ClipEncoder.load(bundle, provider="cpu")
    with tempfile.TemporaryDirectory(prefix="dclip-bench-regions-") as folder:
        library = Library(Path(folder) / "library")
        started = time.perf_counter()
        library.index([photos], encoder=encoder, options=IndexOptions(regions=layout))
        index_seconds = time.perf_counter() - started
        hits: dict[str, int] = {}
        for query, matching in truth.items():
            response = library.search(SearchQuery.from_strings([query], limit=10))
            hits[query] = sum(r.path.name in matching for r in response.results)
        library.close()
    return {
        "layout": layout,
        "mean_p_at_10": sum(hits.values()) / (10 * len(hits)),
        "queries_with_8_of_10": sum(h >= 8 for h in hits.values()),
        "red_circle": hits["red circle"],
        "index_seconds": index_seconds,
        "hits": hits,
    }


@benchmark(
    "regions", "search quality with region vectors vs whole-photo vectors (shapes demo)", _configure
)
def run(args: argparse.Namespace) -> int:
    from dclip_core.library.regions import LAYOUTS

    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    unknown = [name for name in layouts if name not in LAYOUTS]
    if unknown or not layouts:
        raise SystemExit(
            f"dclip bench regions: unknown layouts {unknown}; expected some of {sorted(LAYOUTS)}"
        )
    bundle, photos = demo_inputs(args.bundle, args.photos)
    rows = [measure_layout(bundle, photos, layout) for layout in layouts]
    result = {"bundle": str(bundle), "photos": str(photos), "layouts": rows}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    header = f"{'layout':<8} {'mean P@10':>9} {'queries >= 8/10':>16} {'red circle':>11}"
    print(f"{header} {'index s':>8}")
    for row in rows:
        print(
            f"{row['layout']:<8} {row['mean_p_at_10']:>9.3f} {row['queries_with_8_of_10']:>12d}/36 "
            f"{row['red_circle']:>8d}/10 {row['index_seconds']:>8.1f}"
        )
    return 0
