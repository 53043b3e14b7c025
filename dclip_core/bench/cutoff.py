"""``dclip bench cutoff``: how well the relevance cutoff marks what a query is about (shapes world).

1. The shapes photos (default: the demo's, built as ``dclip demo`` builds them) are indexed into a
   fresh library with the bundle and region layout the demo uses.
2. Each of the 36 colour-shape queries is searched through the real search path for every photo;
   the photos it marks relevant are compared with the ground truth of ``scenes.json``
   (:func:`dclip_core.bench.regions.colour_shape_truth`): precision, recall and F1 of the marked
   set, per query and mean.
3. The baseline, the earlier rule (:func:`robust_z_cutoff`: median + sensitivity robust standard
   deviations), is applied to the same scores in the same run. It scores the whole library, which
   is what the search's background sample is when the library has at most 1000 photos.

The target: mean F1 >= 0.8, and no query whose top 10 are >= 80 % right marks nothing.
An empty marked set has precision 0. With ``--bundle`` a random-weights bundle (``test-tiny``)
shows how much a model that knows nothing marks.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dclip_core.bench import benchmark

TARGET_F1 = 0.8
# A query whose top 10 are at least this right must mark something.
TOP10_RIGHT = 0.8


@dataclass(frozen=True)
class MarkedSet:
    """Precision, recall and F1 of the photos one rule marks relevant for one query."""

    marked: int
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class QueryRow:
    query: str
    matching: int
    top10_right: float
    current: MarkedSet
    new: MarkedSet


def score_marked(marked: set[str], matching: frozenset[str]) -> MarkedSet:
    """The marked set against the ground truth; nothing marked is precision, recall and F1 0."""
    right = len(marked & matching)
    precision = right / len(marked) if marked else 0.0
    recall = right / len(matching) if matching else 0.0
    total = precision + recall
    return MarkedSet(len(marked), precision, recall, 2 * precision * recall / total if total else 0)


def _configure(parser: argparse.ArgumentParser) -> None:
    from dclip_core.config.settings import Settings

    parser.add_argument(
        "--bundle", type=Path, help="a bundle to measure (default: the demo's, built if missing)"
    )
    parser.add_argument(
        "--photos", type=Path, help="a shapes folder with scenes.json (default: the demo's photos)"
    )
    parser.add_argument(
        "--regions", default="grid", help="region layout to index with (default: grid, as the demo)"
    )
    parser.add_argument(
        "--sensitivity",
        type=float,
        default=Settings().relevance_sensitivity,
        help="the Relevance cutoff setting both rules use (default: the setting's default)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def measure_cutoff(bundle: Path, photos: Path, regions: str, sensitivity: float) -> list[QueryRow]:
    """Index ``photos`` into a fresh library and score both rules' marked sets for every query."""
    from dclip_core.bench.regions import colour_shape_truth
    from dclip_core.library import IndexOptions, Library, SearchQuery
    from dclip_core.library.scoring import robust_z_cutoff
    from dclip_core.runtime.encoders import ClipEncoder

    truth = colour_shape_truth(photos)
    encoder = ClipEncoder.load(bundle, provider="cpu")
    rows: list[QueryRow] = []
    with tempfile.TemporaryDirectory(prefix="dclip-bench-cutoff-") as folder:
        library = Library(Path(folder) / "library")
        library.index([photos], encoder=encoder, options=IndexOptions(regions=regions))
        photo_count = library.status().images
        for query, matching in truth.items():
            response = library.search(
                SearchQuery.from_strings([query], limit=photo_count, sensitivity=sensitivity)
            )
            results = response.results
            scores = np.array([r.score for r in results], dtype=np.float32)
            old_threshold = robust_z_cutoff(scores, sensitivity)
            rows.append(
                QueryRow(
                    query=query,
                    matching=len(matching),
                    top10_right=sum(r.path.name in matching for r in results[:10]) / 10,
                    current=score_marked(
                        {r.path.name for r in results if r.score >= old_threshold}, matching
                    ),
                    new=score_marked({r.path.name for r in results if r.relevant}, matching),
                )
            )
        library.close()
    return rows


def summary(rows: list[QueryRow]) -> dict[str, Any]:
    """Means per rule, the queries that fail, and whether the new rule meets the target."""

    def means(pick: str) -> dict[str, float]:
        sets = [getattr(row, pick) for row in rows]
        return {
            key: float(np.mean([getattr(s, key) for s in sets]))
            for key in ("precision", "recall", "f1", "marked")
        }

    def marks_nothing(pick: str) -> list[str]:
        return [
            row.query
            for row in rows
            if row.top10_right >= TOP10_RIGHT and getattr(row, pick).marked == 0
        ]

    new = means("new")
    failing = marks_nothing("new")
    return {
        "current": {**means("current"), "good_top10_marking_nothing": marks_nothing("current")},
        "new": {**new, "good_top10_marking_nothing": failing},
        "mean_top10_right": float(np.mean([row.top10_right for row in rows])),
        "target_met": new["f1"] >= TARGET_F1 and not failing,
    }


@benchmark(
    "cutoff",
    "precision/recall/F1 of the relevance cutoff's marked set vs the earlier rule (shapes demo)",
    _configure,
)
def run(args: argparse.Namespace) -> int:
    from dclip_core.bench.regions import demo_inputs

    bundle, photos = demo_inputs(args.bundle, args.photos)
    rows = measure_cutoff(bundle, photos, args.regions, args.sensitivity)
    totals = summary(rows)
    if args.json:
        print(
            json.dumps(
                {
                    "bundle": str(bundle),
                    "photos": str(photos),
                    "sensitivity": args.sensitivity,
                    "queries": [asdict(row) for row in rows],
                    **totals,
                },
                indent=2,
            )
        )
        return 0
    # JSON keeps the names of the measurement that chose the rule: "current" is the earlier rule,
    # "new" the cutoff searches use now (docs/adr/0015-relevance-cutoff.md).
    print(f"{'':18}{'earlier rule (median + s*MAD)':>34}   {'the cutoff (median..best)':>30}")
    header = f"{'query':<16} {'P@10':>5} {'n':>3}"
    columns = f"{'marked':>7} {'P':>6} {'R':>6} {'F1':>6}"
    print(f"{header} {columns}    {columns}")
    for row in rows:
        cells = [
            f"{s.marked:>7d} {s.precision:>6.2f} {s.recall:>6.2f} {s.f1:>6.2f}"
            for s in (row.current, row.new)
        ]
        print(
            f"{row.query:<16} {row.top10_right:>5.2f} {row.matching:>3d} {cells[0]}    {cells[1]}"
        )
    means = [
        f"{m['marked']:>7.1f} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f}"
        for m in (totals["current"], totals["new"])
    ]
    print(f"{'mean':<16} {totals['mean_top10_right']:>5.3f} {'':>3} {means[0]}    {means[1]}")
    for rule, label in (("current", "earlier rule"), ("new", "the cutoff")):
        nothing = totals[rule]["good_top10_marking_nothing"]
        print(f"{label}: {len(nothing)} queries with top 10 >= 80 % right mark nothing {nothing}")
    verdict = "met" if totals["target_met"] else "NOT met"
    print(f"target (mean F1 >= {TARGET_F1}, no good query marking nothing): {verdict}")
    return 0
