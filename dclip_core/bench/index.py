"""``dclip bench index``: indexing throughput against the machine's limit and a plain peer loop.

Part 1, **the limit** (per ``--variants``, on the same files, in one run,
:mod:`dclip_core.bench.index_ceilings`):

1. **full** — ``dclip index FOLDER`` as typed, a new process, a fresh library (the session cache
   and bundle check are warm, as after any first use): photos/s from process start to exit, and
   the process's peak RSS;
2. **steady** — the same pipeline in-process, photos/s between its first and last commit;
3. **model ceiling** — the bare image model on random pixels at the indexer's batch size;
4. **decode ceiling** — the bare reduced JPEG decode of the files, one thread per core;
5. **bound** — ``cores / (decode + model CPU seconds per photo)``, from 3 and 4: what the cores
   could do if they did nothing but decode and embed; **share** is steady / bound.

Part 2, **vs peers** (as before, ``--skip-baseline`` leaves it out): both index the same
camera-sized JPEGs (default 300 at 4000x3000, generated once into
``<cache>/bench/index-jpegs-...``: random shapes and gradients with sensor-like noise, saved at
quality 90 with an EXIF date, ~3 MB each) with the same ViT-B/32 random-init model:

* **ours**: ``Library.index`` with the exported ONNX bundle — thread-pool decoding with JPEG draft
  mode, batched ONNX inference overlapped with decoding, SQLite commits per batch, thumbnails
  (with ``--batch-size`` 0, the indexer's own choice);
* **baseline**: open_clip in torch, full PIL decode, the model's torchvision transform, batch 8,
  one image after another (the loop of rclip <= 2, memery, PhotoMapAI);
* with ``--regions LAYOUT``, also **ours with regions**: the same pipeline embedding each photo's
  region views too (:mod:`dclip_core.library.regions`) — what that option costs.

Timing starts after the model is loaded and has run once (both sides), so it measures indexing,
not start-up; ours includes scanning, hashing, thumbnails and the database.

Each run happens in a fresh child process (so its peak memory is its own); the table shows the
median over ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from dclip_core.bench import benchmark


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=300, help="number of JPEGs")
    parser.add_argument("--width", type=int, default=4000, help="JPEG width")
    parser.add_argument("--height", type=int, default=3000, help="JPEG height")
    parser.add_argument("--model", default="random-vit-b-32", help="registered model for both")
    parser.add_argument("--repeats", type=int, default=3, help="runs per pipeline (median)")
    parser.add_argument(
        "--batch-size", type=int, default=0, help="our inference batch (0 = the indexer's choice)"
    )
    parser.add_argument(
        "--variants",
        default="fp32,int8",
        help="image-tower variants to measure against the limit, comma-separated (int8 is "
        "exported into the bench cache when the bundle lacks it)",
    )
    parser.add_argument("--skip-baseline", action="store_true", help="time only our pipeline")
    parser.add_argument(
        "--regions",
        default="none",
        metavar="LAYOUT",
        help="also time our pipeline indexing region views with this layout (e.g. grid)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def make_jpegs(folder: Path, count: int, width: int, height: int) -> list[Path]:
    """Generate (once) ``count`` photo-like JPEGs; returns their paths."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"IMG_{i:04d}.jpg"
        paths.append(path)
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        small = Image.new("RGB", (width // 8, height // 8), tuple(rng.integers(0, 255, 3).tolist()))
        draw = ImageDraw.Draw(small)
        for _ in range(40):
            x0, y0 = rng.integers(0, width // 8, 2), rng.integers(0, height // 8, 2)
            box = (min(x0[0], x0[1]), min(y0[0], y0[1]), max(x0[0], x0[1]), max(y0[0], y0[1]))
            draw.ellipse(box, fill=tuple(rng.integers(0, 255, 3).tolist()))
        big = np.asarray(small.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
        noise = rng.normal(0, 6, size=(height, width, 1)).astype(np.int16)  # sensor-like grain
        pixels = np.clip(big + noise, 0, 255).astype(np.uint8)
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9003] = f"2024:{1 + i % 12:02d}:{1 + i % 28:02d} 12:00:00"
        tmp = path.with_suffix(".tmp")
        Image.fromarray(pixels).save(tmp, format="JPEG", quality=90, exif=exif.tobytes())
        os.replace(tmp, path)
    return paths


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB.

    Linux: ``VmHWM`` of /proc/self/status, which starts afresh at exec; ``ru_maxrss`` would carry
    the parent's peak into a spawned child. Elsewhere: ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass  # not Linux: fall back below
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _run_ours(folder: str, bundle: str, batch_size: int, regions: str = "none") -> dict[str, Any]:
    """Child process: index ``folder`` into a fresh library with our pipeline."""
    with tempfile.TemporaryDirectory(prefix="dclip-bench-index-") as home:
        os.environ["DCLIP_HOME"] = home  # thumbnails and the library stay in the temp folder
        from dclip_core.library import IndexOptions, Library
        from dclip_core.runtime.encoders import ClipEncoder

        encoder = ClipEncoder.load(Path(bundle), provider="cpu")
        size = encoder.manifest.image.preprocess.size
        encoder.embed_pixels(np.zeros((1, 3, size, size), np.float32))  # open the session
        started = time.perf_counter()
        library = Library(Path(home) / "library")
        report = library.index(
            [Path(folder)],
            encoder=encoder,
            options=IndexOptions(batch_size=batch_size, regions=regions),
        )
        seconds = time.perf_counter() - started
        library.close()
    return {"seconds": seconds, "images": report.embedded, "peak_rss_mb": peak_rss_mb()}


def _run_baseline(folder: str, model_name: str) -> dict[str, Any]:
    """Child process: open_clip torch, full PIL decode, batch 8, sequential."""
    import open_clip
    import torch
    from PIL import Image

    from dclip_core.models.clip import create_clip
    from dclip_core.models.registry import get_model_spec

    spec = get_model_spec(model_name)
    model = create_clip(spec)
    transform = open_clip.image_transform(
        spec.preprocess.size, is_train=False, mean=spec.preprocess.mean, std=spec.preprocess.std
    )
    size = spec.preprocess.size
    with torch.no_grad():
        model.encode_image(torch.zeros(1, 3, size, size))  # warm up, like ours
    started = time.perf_counter()
    paths = sorted(Path(folder).glob("*.jpg"))
    vectors = []
    with torch.no_grad():
        for start in range(0, len(paths), 8):
            batch = torch.stack(
                [transform(Image.open(p).convert("RGB")) for p in paths[start : start + 8]]
            )
            features = model.encode_image(batch)
            vectors.append(features / features.norm(dim=-1, keepdim=True))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "images": len(paths), "peak_rss_mb": peak_rss_mb()}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = statistics.median(r["seconds"] for r in runs)
    images = runs[0]["images"]
    return {
        "median_seconds": seconds,
        "images_per_s": images / seconds,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "runs_s": [r["seconds"] for r in runs],
        "images": images,
    }


def _bundle_with_variants(model: str, variants: list[str]) -> Path:
    """The model's bundle, or one exported with the wanted variants into the bench cache."""
    from dclip_core.config import get_paths
    from dclip_core.export import ensure_bundle, export_model
    from dclip_core.runtime.bundle import load_manifest

    def say(line: str) -> None:
        print(line, file=sys.stderr)

    bundle = ensure_bundle(model, progress=say)
    extra = [v for v in variants if v != "fp32"]
    if all(v in load_manifest(bundle).variants for v in extra):
        return bundle
    target = get_paths().cache_dir / "bench" / "bundles" / f"{model}-{'-'.join(sorted(extra))}"
    if not (target / "bundle.json").is_file():
        export_model(
            model, target, int8="int8" in extra, fp16="fp16" in extra, replace=True, progress=say
        )
    return target


def _fresh_library(home: Path) -> None:
    """Remove the library and thumbnails under ``home``; caches of sessions and bundles stay."""
    shutil.rmtree(home / "data" / "library", ignore_errors=True)
    shutil.rmtree(home / "cache" / "thumbnails", ignore_errors=True)


def _measure_limit(folder: Path, bundle: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Part 1 of the module docstring, ``--repeats`` times per variant, in fresh children."""
    from dclip_core.bench import index_ceilings as ceil
    from dclip_core.library.indexer import index_batch_size
    from dclip_core.library.preparer import CPU_PROVIDER, decode_workers

    cores = os.cpu_count() or 1
    batch = index_batch_size(args.batch_size, CPU_PROVIDER)
    workers = decode_workers(0, CPU_PROVIDER)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    home = Path(tempfile.mkdtemp(prefix="dclip-bench-limit-"))
    ctx = multiprocessing.get_context("spawn")
    rows: dict[str, dict[str, list[float]]] = {v: {} for v in variants}
    loads: list[float] = []
    previous_home = os.environ.get("DCLIP_HOME")
    os.environ["DCLIP_HOME"] = str(home)  # spawned children inherit it: warm caches, fresh library
    try:
        for repeat in range(args.repeats):
            for variant in variants:
                with ctx.Pool(1) as pool:
                    model = pool.apply(ceil.model_ceiling, (str(bundle), variant, batch, 64))
                with ctx.Pool(1) as pool:
                    decode = pool.apply(ceil.decode_ceiling, (str(folder), 256, workers))
                _fresh_library(home)
                with ctx.Pool(1) as pool:
                    steady = pool.apply(
                        ceil.run_steady_index, (str(folder), str(bundle), variant, args.batch_size)
                    )
                _fresh_library(home)
                full = ceil.run_cli_index(str(folder), str(bundle), variant, str(home))
                loads.append(os.getloadavg()[0])
                bound = ceil.bound_photos_per_s(
                    cores, decode["cpu_s_per_photo"], model["cpu_s_per_photo"]
                )
                sample = {
                    "full_photos_per_s": full["photos"] / full["seconds"],
                    "steady_photos_per_s": steady["steady_photos_per_s"],
                    "model_photos_per_s": model["photos_per_s"],
                    "model_cpu_ms": 1000 * model["cpu_s_per_photo"],
                    "decode_photos_per_s": decode["photos_per_s"],
                    "decode_cpu_ms": 1000 * decode["cpu_s_per_photo"],
                    "bound_photos_per_s": bound,
                    "share_of_bound": steady["steady_photos_per_s"] / bound,
                    "full_share_of_bound": full["photos"] / full["seconds"] / bound,
                    "peak_rss_mb": full["peak_rss_mb"],
                }
                for key, value in sample.items():
                    rows[variant].setdefault(key, []).append(value)
                print(
                    f"  {variant} run {repeat + 1}: full {sample['full_photos_per_s']:.2f}/s, "
                    f"steady {sample['steady_photos_per_s']:.2f}/s, bound {bound:.2f}/s, "
                    f"load {loads[-1]:.2f}",
                    file=sys.stderr,
                )
    finally:
        if previous_home is None:
            os.environ.pop("DCLIP_HOME", None)
        else:
            os.environ["DCLIP_HOME"] = previous_home
        shutil.rmtree(home, ignore_errors=True)
    return {
        "cores": cores,
        "batch_size": batch,
        "decode_workers": workers,
        "load_avg_1min": loads,
        "variants": {
            variant: {
                key: (max(values) if key == "peak_rss_mb" else statistics.median(values))
                for key, values in columns.items()
            }
            for variant, columns in rows.items()
        },
    }


def _print_limit(limit: dict[str, Any]) -> None:
    print(
        f"against the limit ({limit['cores']} cores, batch {limit['batch_size']}, "
        f"{limit['decode_workers']} decode threads; medians; 1-min load during the runs "
        f"{min(limit['load_avg_1min']):.2f}-{max(limit['load_avg_1min']):.2f}):"
    )
    header = (
        f"{'variant':<8} {'full/s':>7} {'steady/s':>8} {'model/s':>8} {'decode/s':>8} "
        f"{'model ms':>8} {'decode ms':>9} {'bound/s':>8} {'share':>6} {'peak RSS':>9}"
    )
    print(header)
    for variant, row in limit["variants"].items():
        print(
            f"{variant:<8} {row['full_photos_per_s']:>7.2f} {row['steady_photos_per_s']:>8.2f} "
            f"{row['model_photos_per_s']:>8.2f} {row['decode_photos_per_s']:>8.2f} "
            f"{row['model_cpu_ms']:>8.1f} {row['decode_cpu_ms']:>9.1f} "
            f"{row['bound_photos_per_s']:>8.2f} {row['share_of_bound']:>6.0%} "
            f"{row['peak_rss_mb']:>7.0f}MB"
        )
    print("(ms: CPU milliseconds per photo, all threads; share: steady / bound)")


@benchmark(
    "index", "indexing throughput vs a plain open_clip loop on camera-sized JPEGs", _configure
)
def run(args: argparse.Namespace) -> int:
    from dclip_core.config import get_paths

    folder = (
        get_paths().cache_dir / "bench" / f"index-jpegs-{args.images}-{args.width}x{args.height}"
    )
    print(f"photos: {folder}", file=sys.stderr)
    make_jpegs(folder, args.images, args.width, args.height)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bundle = _bundle_with_variants(args.model, variants)
    limit = _measure_limit(folder, bundle, args)
    ctx = multiprocessing.get_context("spawn")
    ours: list[dict[str, Any]] = []
    baseline: list[dict[str, Any]] = []
    regions: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        with ctx.Pool(1) as pool:
            ours.append(pool.apply(_run_ours, (str(folder), str(bundle), args.batch_size)))
        print(f"  ours run {repeat + 1}: {ours[-1]['seconds']:.1f} s", file=sys.stderr)
        if args.regions != "none":
            with ctx.Pool(1) as pool:
                regions.append(
                    pool.apply(_run_ours, (str(folder), str(bundle), args.batch_size, args.regions))
                )
            print(f"  regions run {repeat + 1}: {regions[-1]['seconds']:.1f} s", file=sys.stderr)
        if not args.skip_baseline:
            with ctx.Pool(1) as pool:
                baseline.append(pool.apply(_run_baseline, (str(folder), args.model)))
            print(f"  baseline run {repeat + 1}: {baseline[-1]['seconds']:.1f} s", file=sys.stderr)
    result: dict[str, Any] = {
        "model": args.model,
        "images": args.images,
        "size": f"{args.width}x{args.height}",
        "ours": _summary(ours),
        "baseline": _summary(baseline) if baseline else None,
        "regions": {"layout": args.regions, **_summary(regions)} if regions else None,
        "cpu_count": os.cpu_count(),
        "limit": limit,
    }
    if baseline:
        result["speedup"] = result["ours"]["images_per_s"] / result["baseline"]["images_per_s"]
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    _print_limit(limit)
    print()
    print(f"{'pipeline':<40} {'images/s':>9} {'median s':>9} {'peak RSS':>9}")
    rows = [(f"ours (ONNX, threads, draft, batch {limit['batch_size']})", result["ours"])]
    if regions:
        rows.append((f"ours with {args.regions} regions", result["regions"]))
    if baseline:
        rows.append(("baseline (open_clip torch, batch 8)", result["baseline"]))
    for name, row in rows:
        print(
            f"{name:<40} {row['images_per_s']:>9.2f} {row['median_seconds']:>9.1f} "
            f"{row['peak_rss_mb']:>7.0f}MB"
        )
    if baseline:
        print(
            f"speed-up: {result['speedup']:.2f}x ({args.images} images, {args.repeats} runs each)"
        )
    return 0
