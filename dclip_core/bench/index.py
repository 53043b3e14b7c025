"""``dclip bench index``: indexing throughput of our pipeline vs a plain loop of the kind peers use.

Both index the same camera-sized JPEGs (default 300 at 4000x3000, generated once into
``<cache>/bench/index-jpegs-...``: random shapes and gradients with sensor-like noise, saved at
quality 90 with an EXIF date, ~3 MB each) with the same ViT-B/32 random-init model:

* **ours**: ``Library.index`` with the exported ONNX bundle — thread-pool decoding with JPEG draft
  mode, batched ONNX inference overlapped with decoding, SQLite commits per batch, thumbnails;
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
    parser.add_argument("--batch-size", type=int, default=32, help="our inference batch")
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


@benchmark(
    "index", "indexing throughput vs a plain open_clip loop on camera-sized JPEGs", _configure
)
def run(args: argparse.Namespace) -> int:
    from dclip_core.config import get_paths
    from dclip_core.export import ensure_bundle

    folder = (
        get_paths().cache_dir / "bench" / f"index-jpegs-{args.images}-{args.width}x{args.height}"
    )
    print(f"photos: {folder}", file=sys.stderr)
    make_jpegs(folder, args.images, args.width, args.height)
    bundle = ensure_bundle(args.model, progress=lambda line: print(line, file=sys.stderr))
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
    }
    if baseline:
        result["speedup"] = result["ours"]["images_per_s"] / result["baseline"]["images_per_s"]
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{'pipeline':<40} {'images/s':>9} {'median s':>9} {'peak RSS':>9}")
    rows = [("ours (ONNX, threads, draft, batch " + str(args.batch_size) + ")", result["ours"])]
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
