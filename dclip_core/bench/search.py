"""``dclip bench search``: search latency, recall and memory at 10k / 100k / 1M vectors.

For each size a library is built once and cached (``<cache>/bench/search/...``): N photo rows with
synthetic 512-d vectors shaped like CLIP embeddings (clusters in a 32-d latent space mapped to 512-d
plus isotropic noise, normalised — real image embeddings have a low intrinsic dimension; uniformly
random 512-d vectors have no neighbours worth the name) and the ANN index built with the default
settings. Then, in a fresh child process per size (so memory is the search's own):

* **search p50/p95**: ``Library.search`` with a new text each time (text encoding by the
  ``random-vit-b-32`` bundle + ANN + metadata), warm, in-process;
* **text encoding**: one query through the bundle's text tower, which runs only up to the end
  token (ADR 0009), against the baseline of the same weights exported with the fixed 77-token
  length of earlier versions (its own bundle, built once next to the libraries), query by query;
  and ``Library.search`` with each;
* **ANN vs numpy**: top-10 of held-out vectors by hnswlib vs numpy brute force over the same
  vectors (the baseline: einsum + argpartition, the fastest numpy form on this machine), p50
  each, and recall@10 of the ANN against it;
* **peak RSS** of the search process (before the baseline loads its own copy of the vectors).

With ``--cold-size`` (10k) in the sizes, **cold start** is ``dclip search "q" --json`` in a fresh
process over that library (its rows point to real, empty files so the CLI runs its usual file
checks), and a step-by-step breakdown against the baseline (:mod:`dclip_core.bench.search_cold`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from dclip_core.bench import benchmark
from dclip_core.bench.index import peak_rss_mb
from dclip_core.bench.search_cold import format_breakdown, measure_cold_start

LATENT_DIM = 32
CLUSTERS = 1000
BUILD_VERSION = 1


def clip_like_vectors(n: int, dim: int, seed: int, offset: int = 0) -> np.ndarray:
    """Deterministic unit vectors with CLIP-like structure; rows ``offset..offset+n``."""
    centres = np.random.default_rng(1).standard_normal((CLUSTERS, LATENT_DIM)).astype(np.float32)
    mixing = np.random.default_rng(2).standard_normal((LATENT_DIM, dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    chunk = 50_000
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        rng = np.random.default_rng([seed, offset + start])
        labels = rng.integers(0, CLUSTERS, rows)
        latent = centres[labels] + 0.7 * rng.standard_normal((rows, LATENT_DIM), dtype=np.float32)
        x = latent @ mixing + 2.0 * rng.standard_normal((rows, dim), dtype=np.float32)
        out[start : start + rows] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        default="10000,100000",
        help="comma-separated library sizes (add 1000000 for 1M; its first build is long)",
    )
    parser.add_argument("--queries", type=int, default=100, help="timed queries per size")
    parser.add_argument("--model", default="random-vit-b-32", help="model for text encoding")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh-process searches")
    parser.add_argument(
        "--cold-size", type=int, default=10_000, help="library size the cold start runs on"
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached libraries")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _bench_home(n: int, dim: int, seed: int) -> Path:
    from dclip_core.config import get_paths

    return get_paths().cache_dir / "bench" / "search" / f"n{n}-d{dim}-s{seed}-v{BUILD_VERSION}"


def fixed_length_bundle(bundle: Path) -> Path:
    """The baseline: ``bundle`` with its text tower exported at the fixed context length.

    Same weights, same tokenizer, so vectors agree with ``bundle``'s; only the text graph is the
    one earlier DCLIP versions wrote. Built once, next to the benchmark libraries.
    """
    from dclip_core.config import get_paths
    from dclip_core.export.onnx_export import export_text_tower
    from dclip_core.models.clip import create_clip
    from dclip_core.runtime.bundle import MANIFEST_NAME, load_manifest, sha256_file

    manifest = load_manifest(bundle)
    target = get_paths().cache_dir / "bench" / "search" / f"{manifest.fingerprint}-fixed-length"
    if (target / MANIFEST_NAME).is_file():
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(manifest.path, staging)
    model = create_clip(manifest.model_spec, download=False)
    text_file = staging / manifest.text.file
    export_text_tower(model, manifest.text.context_length, text_file, dynamic_length=False)
    data = json.loads((staging / MANIFEST_NAME).read_text(encoding="utf-8"))
    data["name"] = f"{manifest.name} (fixed length)"
    data["files"][manifest.text.file] = sha256_file(text_file)
    (staging / MANIFEST_NAME).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    staging.rename(target)
    return target


def build_library(home: Path, n: int, bundle: Path, fingerprint: str, seed: int = 0) -> Path:
    """Create (once) a library of ``n`` synthetic photos under ``home`` and its ANN index."""
    from dclip_core.library.ann import AnnParams
    from dclip_core.library.ann_sync import sync_ann_index
    from dclip_core.library.store import LibraryStore
    from dclip_core.runtime.bundle import load_manifest

    library_dir = home / "data" / "library"
    marker = home / "complete.json"
    if marker.is_file():
        return library_dir
    if home.exists():
        shutil.rmtree(home)
    manifest = load_manifest(bundle)
    dim = manifest.embed_dim
    photos = home / "photos"
    make_files = n <= 10_000  # the cold-start CLI run checks that result files exist
    store = LibraryStore(library_dir)
    store.add_root(str(photos))
    root = store.roots()[0]
    model = store.ensure_model(fingerprint, manifest.name, dim, str(manifest.path))
    conn = store.conn
    chunk = 50_000
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        vectors = clip_like_vectors(rows, dim, seed, offset=start)
        with store.write():
            image_rows = []
            for i in range(start, start + rows):
                folder = photos / f"{2000 + i % 25}" / f"{i // 1000:04d}"
                path = folder / f"IMG_{i:07d}.jpg"
                image_rows.append(
                    (
                        root.id,
                        str(path),
                        str(folder),
                        3_000_000 + i,
                        i,
                        f"{i:064x}",
                        4000,
                        3000,
                        f"{2000 + i % 25}-{1 + i % 12:02d}-{1 + i % 28:02d}T12:00:00",
                        "exif",
                        "ok",
                        time.time(),
                    )
                )
            conn.executemany(
                "INSERT INTO images (root_id, path, folder, size, mtime_ns, content_hash, width, "
                "height, taken_at, taken_source, status, indexed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                image_rows,
            )
            ids = [
                r[0]
                for r in conn.execute("SELECT id FROM images WHERE id > ? ORDER BY id", (start,))
            ]
            store.add_embeddings(conn, model.id, ids, vectors)
        if make_files:
            for row in image_rows:
                Path(row[1]).parent.mkdir(parents=True, exist_ok=True)
                Path(row[1]).touch()
        print(f"  built {start + rows}/{n} rows", file=sys.stderr, flush=True)
    store.mark_root_indexed(root.id)
    store.complete_model(model.id)
    model = store.model_by_id(model.id) or model
    started = time.perf_counter()
    ann = sync_ann_index(store, model, library_dir, AnnParams())
    build_s = time.perf_counter() - started
    store.prune_log(model.id, ann.revision)
    store.close()
    marker.write_text(json.dumps({"n": n, "ann_build_s": build_s}))
    return library_dir


def _measure(
    library_dir: str, bundle: str, fixed_bundle: str, n: int, queries: int, seed: int
) -> dict[str, Any]:
    """Child process: warm in-process search latency, ANN vs numpy, recall, peak RSS, and text
    encoding against the fixed-length baseline."""
    from dclip_core.library import Library, SearchQuery
    from dclip_core.library.store import LibraryStore
    from dclip_core.runtime.encoders import ClipEncoder

    encoder = ClipEncoder.load(Path(bundle), provider="cpu")
    library = Library(Path(library_dir), verify_files=False)
    started = time.perf_counter()
    library.search(SearchQuery.from_strings(["warm up"]), encoder=encoder)
    first_s = time.perf_counter() - started  # loads (or rebuilds) the ANN index
    # Alternate the measured operations query by query, so that load changes on the shared
    # machine hit them alike.
    model = library.search_model()
    assert model is not None
    store = LibraryStore(Path(library_dir))
    ann = library.engine.ann_index(store, model)
    held_out = clip_like_vectors(queries, model.embed_dim, seed + 1, offset=10**9)
    search_ms, encode_ms, ann_ms, ann_ids = [], [], [], []
    for i in range(queries):
        query = SearchQuery.from_strings([f"photo number {i} of a quiet street at dusk"], limit=20)
        started = time.perf_counter()
        library.search(query, encoder=encoder)
        search_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        encoder.embed_texts([f"photo number {i} of a quiet road at dawn"])
        encode_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        found, _ = ann.search(held_out[i], 10)
        ann_ms.append((time.perf_counter() - started) * 1000)
        ann_ids.append(found)
    peak_search_mb = peak_rss_mb()
    fixed = ClipEncoder.load(Path(fixed_bundle), provider="cpu")
    fixed.embed_texts(["warm up"])
    fixed_encode_ms: list[float] = []
    fixed_search_ms: list[float] = []
    dynamic_encode_ms: list[float] = []
    dynamic_search_ms: list[float] = []
    for i in range(queries):
        text = f"a photo of {i} boats moored in a small harbour"
        for active, label, encode_times, search_times in (
            (encoder, "dynamic", dynamic_encode_ms, dynamic_search_ms),
            (fixed, "fixed", fixed_encode_ms, fixed_search_ms),
        ):
            started = time.perf_counter()
            active.embed_texts([text])
            encode_times.append((time.perf_counter() - started) * 1000)
            # Texts differ per encoder: the library caches query vectors by model and text.
            query = SearchQuery.from_strings([f"{text} in the fog ({label})"], limit=20)
            started = time.perf_counter()
            library.search(query, encoder=active)
            search_times.append((time.perf_counter() - started) * 1000)
    ids_chunks, vector_chunks = [], []
    for ids, vectors in store.iter_vectors(model.id, chunk=50_000):
        ids_chunks.append(ids)
        vector_chunks.append(np.array(vectors))
    all_ids = np.concatenate(ids_chunks)
    matrix = np.concatenate(vector_chunks)
    numpy_ms, hits, ann_again_ms = [], 0, []
    for q, found in zip(held_out, ann_ids, strict=True):
        started = time.perf_counter()
        scores = np.einsum("ij,j->i", matrix, q)  # faster than BLAS here, see scoring.matvec
        top = np.argpartition(-scores, 9)[:10]
        top = top[np.argsort(-scores[top])]
        numpy_ms.append((time.perf_counter() - started) * 1000)
        hits += len(set(all_ids[top].tolist()) & set(found.tolist()))
        started = time.perf_counter()
        ann.search(q, 10)
        ann_again_ms.append((time.perf_counter() - started) * 1000)
    return {
        "n": n,
        "first_search_s": first_s,
        "search_p50_ms": statistics.median(search_ms),
        "search_p95_ms": float(np.percentile(search_ms, 95)),
        "text_encode_p50_ms": statistics.median(encode_ms),
        "ann_p50_ms": statistics.median(ann_ms + ann_again_ms),
        "numpy_p50_ms": statistics.median(numpy_ms),
        "recall_at_10": hits / (10 * len(held_out)),
        "peak_rss_search_mb": peak_search_mb,
        "baseline": {
            "text_encode_p50_ms": statistics.median(dynamic_encode_ms),
            "fixed_text_encode_p50_ms": statistics.median(fixed_encode_ms),
            "search_p50_ms": statistics.median(dynamic_search_ms),
            "fixed_search_p50_ms": statistics.median(fixed_search_ms),
        },
    }


@benchmark(
    "search", "search latency/recall/memory at 10k-1M vectors vs numpy brute force", _configure
)
def run(args: argparse.Namespace) -> int:
    from dclip_core.export import ensure_bundle
    from dclip_core.runtime.bundle import load_manifest

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    bundle = ensure_bundle(args.model, progress=lambda line: print(line, file=sys.stderr))
    manifest = load_manifest(bundle)
    fingerprint = manifest.fingerprint
    fixed_bundle = fixed_length_bundle(bundle)
    rows = []
    ctx = multiprocessing.get_context("spawn")
    cold: dict[str, Any] | None = None
    for n in sizes:
        home = _bench_home(n, manifest.embed_dim, 0)
        if args.rebuild and home.exists():
            shutil.rmtree(home)
        print(f"library of {n} vectors: {home}", file=sys.stderr)
        library_dir = build_library(home, n, bundle, fingerprint)
        build = json.loads((home / "complete.json").read_text())
        with ctx.Pool(1) as pool:
            row = pool.apply(
                _measure,
                (str(library_dir), str(bundle), str(fixed_bundle), n, args.queries, 0),
            )
        row["ann_build_s"] = build["ann_build_s"]
        rows.append(row)
        if n == args.cold_size and args.cold_runs > 0:
            cold = measure_cold_start(home, args.cold_runs, fixed_bundle)
    result = {
        "model": manifest.name,
        "queries": args.queries,
        "sizes": rows,
        "cold_start_size": args.cold_size if cold else None,
        "cold_start_s": cold["cli_s"] if cold else None,
        "cold_start_runs_s": cold["cli_runs_s"] if cold else [],
        "cold_start_breakdown_s": cold["breakdown"] if cold else None,
        "cpu_count": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"{'vectors':>9} {'search p50':>11} {'p95':>8} {'text enc':>9} {'ANN p50':>8} "
        f"{'numpy p50':>10} {'speed-up':>9} {'recall@10':>10} {'peak RSS':>9} {'ANN build':>10}"
    )
    for r in rows:
        print(
            f"{r['n']:>9} {r['search_p50_ms']:>9.2f}ms {r['search_p95_ms']:>6.2f}ms "
            f"{r['text_encode_p50_ms']:>7.2f}ms {r['ann_p50_ms']:>6.3f}ms "
            f"{r['numpy_p50_ms']:>8.2f}ms "
            f"{r['numpy_p50_ms'] / max(r['ann_p50_ms'], 1e-9):>8.1f}x {r['recall_at_10']:>10.4f} "
            f"{r['peak_rss_search_mb']:>7.0f}MB {r['ann_build_s']:>9.1f}s"
        )
    print("text encoding and search, p50, dynamic length vs the fixed-length baseline:")
    for r in rows:
        b = r["baseline"]
        print(
            f"{r['n']:>9} encode {b['text_encode_p50_ms']:.1f} vs "
            f"{b['fixed_text_encode_p50_ms']:.1f} ms, "
            f"search {b['search_p50_ms']:.1f} vs {b['fixed_search_p50_ms']:.1f} ms"
        )
    if cold:
        command = 'dclip search "q" --json'
        print(
            f"cold start `{command}` over {args.cold_size}: median {cold['cli_s']:.2f} s "
            f"({len(cold['cli_runs_s'])} runs)"
        )
        print("\n".join(format_breakdown(cold)))
    return 0
