"""``dclip bench train``: teacher and student training throughput, region cache cold vs warm.

For each model a child process (so memory numbers are its own) writes shapes-world images at the
model's input size and runs, through the real trainers:

* **teacher, cold**: a fresh region cache, so every step also runs the detector and embeds the
  crops; **teacher, warm**: the same steps again with the cache filled (the baseline: what epochs
  2..n cost);
* **student, cold / warm**: the same for distillation (image decoding and the student's forward
  and backward come on top).

Samples/s is the median over steps after the first (which includes one-time set-up). Memory per
sample is the growth of peak RSS (CUDA: peak allocated memory) between a warm run at batch ``B``
and one at ``2B``, divided by ``B``. Detector ``yolo-test-tiny`` (random-init YOLOv8n layout) keeps
the run offline; pass ``--detector yolov8n`` where its weights are cached.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dclip_core.bench import benchmark


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models",
        default="test-tiny,random-vit-b-32",
        help="comma-separated registry names (default: test-tiny,random-vit-b-32)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="micro-batch B (default 8)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per run (default 5)")
    parser.add_argument("--detector", default="yolo-test-tiny", help="detector of the cold runs")
    parser.add_argument(
        "--max-regions",
        type=int,
        default=10,
        help="regions kept per image (default 10: what real photos give; a random-init "
        "detector proposes hundreds)",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (autocast bf16 on CUDA)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _rss_reset() -> int:
    """Reset the peak-RSS mark (Linux) and return the current RSS in bytes."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError as exc:
        _no_proc_memory(exc)
    return 0


def _rss_peak() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError as exc:
        _no_proc_memory(exc)
    return 0


def _no_proc_memory(exc: OSError) -> None:
    """Say once why memory per sample reads 0: CPU memory is measured through Linux's /proc."""
    if not getattr(_no_proc_memory, "said", False):
        print(
            f"dclip bench train: note: memory per sample is not measured here ({exc}); "
            "it needs Linux /proc",
            file=sys.stderr,
        )
        _no_proc_memory.said = True  # type: ignore[attr-defined]


def _run_stage(
    stage: str,
    model: str,
    records: list[Any],
    cache_dir: Path,
    detector: str,
    batch: int,
    steps: int,
    run_dir: Path,
    device: str,
    max_regions: int,
    teacher: Path | None = None,
) -> dict[str, Any]:
    import torch

    from dclip_core.train.distill import train_student
    from dclip_core.train.distributed import init_distributed
    from dclip_core.train.events import EventSink
    from dclip_core.train.recipes import load_recipe
    from dclip_core.train.regions import RegionCache
    from dclip_core.train.teacher_trainer import train_teacher

    times: list[float] = []
    sink = EventSink(
        "none",
        listeners=[
            lambda e: times.append(time.perf_counter()) if e["event"] in ("start", "step") else None
        ],
    )
    recipe = load_recipe(
        "quick",
        overrides={
            "checkpoint_every": 0,
            stage: {"batch_size": batch, "grad_accum": 1, "epochs": 1},
            "data": {"val_fraction": 0.0},
        },
    )
    cache = RegionCache(
        model, detector, cache_dir=cache_dir, device=device, max_regions=max_regions
    )
    ctx = init_distributed(device)
    if ctx.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base_rss = _rss_reset()
    common: dict[str, Any] = {
        "regions": cache,
        "run_dir": run_dir,
        "recipe": recipe,
        "events": sink,
        "ctx": ctx,
        "max_steps": steps + 1,
    }
    if stage == "teacher":
        result = train_teacher(records, model=model, **common)
    else:
        assert teacher is not None
        result = train_student(records, teacher_path=teacher, **common)
    durations = [b - a for a, b in itertools.pairwise(times[1:])]
    peak = (
        torch.cuda.max_memory_allocated()
        if ctx.device.type == "cuda"
        else max(0, _rss_peak() - base_rss)
    )
    return {
        "samples_per_s": batch / statistics.median(durations),
        "peak_bytes": peak,
        "output": str(result.output) if result.output else None,
    }


def _fill_cache(model: str, records: list[Any], cache_dir: Path, args: dict[str, Any]) -> None:
    from dclip_core.train.regions import RegionCache

    RegionCache(
        model,
        args["detector"],
        cache_dir=cache_dir,
        device=args["device"],
        max_regions=args["max_regions"],
    ).prepare(records)


def _bench_model(model: str, args: dict[str, Any]) -> dict[str, Any]:
    """Everything for one model, in a child process."""
    from dclip_core.models.registry import get_model_spec
    from dclip_core.shapes.scenes import write_shapes_dataset
    from dclip_core.train.datasets import read_caption_folder

    batch, steps = args["batch_size"], args["steps"]
    size = get_model_spec(model).preprocess.size
    with tempfile.TemporaryDirectory(prefix="dclip-bench-train-") as tmp:
        root = Path(tmp)
        # enough images that every timed step of a cold run sees new ones, also at batch 2B
        write_shapes_dataset(root / "data", 2 * batch * (steps + 1), seed=0, image_size=size)
        records = read_caption_folder(root / "data")
        out: dict[str, Any] = {"model": model, "image_size": size}
        teacher_path: Path | None = None
        for stage in ("teacher", "student"):
            cache = root / f"regions-{stage}"
            runs: dict[str, dict[str, Any]] = {}
            for name, size_of_batch in (("cold", batch), ("warm", batch), ("warm2", 2 * batch)):
                if name == "warm":
                    _fill_cache(model, records, cache, args)
                runs[name] = _run_stage(
                    stage,
                    model,
                    records,
                    cache,
                    args["detector"],
                    size_of_batch,
                    steps,
                    root / f"{stage}-{name}",
                    args["device"],
                    args["max_regions"],
                    teacher_path,
                )
            cold, warm, double = runs["cold"], runs["warm"], runs["warm2"]
            if stage == "teacher":
                teacher_path = Path(cold["output"])
            out[stage] = {
                "cold_samples_per_s": cold["samples_per_s"],
                "warm_samples_per_s": warm["samples_per_s"],
                "warm_speedup": warm["samples_per_s"] / cold["samples_per_s"],
                "bytes_per_sample": max(0, double["peak_bytes"] - warm["peak_bytes"]) / batch,
                "peak_bytes_batch": warm["peak_bytes"],
            }
        return out


def _child(model: str, args: dict[str, Any], queue: Any) -> None:
    try:
        queue.put(_bench_model(model, args))
    except Exception as exc:  # reported to the parent, which prints it and fails
        queue.put({"model": model, "error": f"{type(exc).__name__}: {exc}"})


@benchmark("train", "teacher/student training samples/s, region cache cold vs warm", _configure)
def run(args: argparse.Namespace) -> int:
    options = {
        "batch_size": args.batch_size,
        "steps": args.steps,
        "detector": args.detector,
        "device": args.device,
        "max_regions": args.max_regions,
    }
    context = multiprocessing.get_context("spawn")
    results = []
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        queue = context.Queue()
        child = context.Process(target=_child, args=(model, options, queue))
        child.start()
        result = queue.get()
        child.join()
        if "error" in result:
            print(f"dclip: bench train: {model}: {result['error']}", file=sys.stderr)
            return 1
        results.append(result)
    report = {
        "benchmark": "train",
        "batch_size": args.batch_size,
        "steps": args.steps,
        "detector": args.detector,
        "max_regions": args.max_regions,
        "device": args.device,
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"batch {args.batch_size}, median of {args.steps} steps, detector {args.detector} "
        f"(max {args.max_regions} regions), device {args.device}"
    )
    print(
        f"{'model':<18} {'stage':<8} {'cold samples/s':>15} {'warm samples/s':>15} "
        f"{'warm/cold':>10} {'MB/sample':>10}"
    )
    for r in results:
        for stage in ("teacher", "student"):
            s = r[stage]
            print(
                f"{r['model']:<18} {stage:<8} {s['cold_samples_per_s']:>15.2f} "
                f"{s['warm_samples_per_s']:>15.2f} {s['warm_speedup']:>9.2f}x "
                f"{s['bytes_per_sample'] / 2**20:>10.1f}"
            )
    return 0
