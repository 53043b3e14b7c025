"""``dclip bench encode``: open_clip on torch vs the ONNX bundle (fp32 and int8), in one run.

Throughput is measured on the same preprocessed pixels for every engine (preprocessing is shared
and excluded), with the same number of CPU threads. A text query is timed end to end, tokenising
included, one query at a time as a search does. Cold start runs a fresh Python process per sample
that embeds one query: once through the torch-free runtime, once the way a torch/open_clip program
would (import open_clip, build the model, load its weights from a file).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dclip_core.bench import benchmark, median_seconds
from dclip_core.errors import DclipError

if TYPE_CHECKING:
    from dclip_core.runtime.encoders import ClipEncoder

QUERIES = (
    "a dog running on the beach",
    "two people sitting at a cafe table in the evening",
    "snowy mountains",
    "a red bicycle leaning against a brick wall",
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="random-vit-b-32",
        metavar="NAME",
        help="registered model to benchmark (default: random-vit-b-32); its bundle with an int8 "
        "variant is exported into the bundles folder on first use",
    )
    parser.add_argument(
        "--bundle",
        metavar="PATH",
        help="benchmark this bundle instead (torch baseline: the architecture it names)",
    )
    parser.add_argument("--images", type=_positive, default=64, metavar="N", help="images per pass")
    parser.add_argument(
        "--batch-size", type=_positive, default=32, metavar="B", help="image batch size"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        metavar="T",
        help="CPU threads for torch and ONNX Runtime alike (default: all cores)",
    )
    parser.add_argument("--repeats", type=_positive, default=3, metavar="R", help="timed repeats")
    parser.add_argument(
        "--cold-repeats",
        type=int,
        default=3,
        metavar="R",
        help="fresh processes per cold-start path (0 skips cold start)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


@benchmark(
    "encode", "open_clip torch vs ONNX fp32/int8: images/s, text query ms, cold start", configure
)
def run(args: argparse.Namespace) -> int:
    import onnxruntime as ort
    import torch

    from dclip_core.export.reference_inputs import reference_pixels
    from dclip_core.models.clip import build_clip_architecture, create_clip
    from dclip_core.models.registry import get_model_spec
    from dclip_core.models.weights import cached_weights_path
    from dclip_core.runtime.bundle import load_manifest
    from dclip_core.runtime.encoders import ClipEncoder

    threads = args.threads or (os.cpu_count() or 1)
    bundle = _bundle_to_measure(args)
    manifest = load_manifest(bundle)
    spec = get_model_spec(manifest.model_spec)
    if manifest.meaningless:
        _say(f"{manifest.name} has random weights: fine for speed, which is all this measures")
    has_int8 = "int8" in manifest.variants
    _say(f"bundle {bundle}; {args.images} images, {threads} threads, {args.repeats} repeats")

    pixels = _tile(reference_pixels(manifest.image.preprocess), args.images)
    results: dict[str, dict[str, float]] = {}

    # ONNX first: a broken bundle fails here, before minutes of torch work.
    for variant in ["fp32", "int8"] if has_int8 else ["fp32"]:
        encoder = ClipEncoder.load(bundle, provider="cpu", threads=threads, variant=variant)
        _say(f"ONNX {variant}")
        results[f"onnx_{variant}"] = _measure(
            encoder.embed_pixels, functools.partial(_embed_query, encoder), pixels, args
        )

    _say("open_clip torch")
    torch.set_num_threads(threads)
    # Speed depends on the architecture only: without cached weights, random init times the same.
    have_weights = spec.weights is None or cached_weights_path(spec) is not None
    model = create_clip(spec) if have_weights else build_clip_architecture(spec).eval()
    import open_clip

    def torch_images(batch: np.ndarray) -> object:
        with torch.inference_mode():
            return model.encode_image(torch.from_numpy(batch), normalize=True)

    def torch_text(query: str) -> object:
        with torch.inference_mode():
            return model.encode_text(open_clip.tokenize([query]), normalize=True)

    results["torch"] = _measure(torch_images, torch_text, pixels, args)

    cold: dict[str, float] = {}
    if args.cold_repeats > 0:
        cold = _cold_start(bundle, model, args.cold_repeats, threads)
    report: dict[str, Any] = {
        "command": _command_line(args),
        "model": manifest.model_spec,
        "bundle": str(bundle),
        "images": args.images,
        "batch_size": args.batch_size,
        "threads": threads,
        "repeats": args.repeats,
        "results": results,
        "cold_start_s": cold,
        "int8_quality": manifest.variants["int8"].quality if has_int8 else None,
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "onnxruntime": ort.__version__,
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
    return 0


def _bundle_to_measure(args: argparse.Namespace) -> Path:
    """The bundle given, or the model's bundle with an int8 variant (exported when missing)."""
    from dclip_core.export import bundle_path_for, export_model
    from dclip_core.runtime.bundle import MANIFEST_NAME, load_manifest, resolve_bundle

    if args.bundle:
        return resolve_bundle(args.bundle)
    target = bundle_path_for(args.model)
    if (target / MANIFEST_NAME).is_file() and "int8" in load_manifest(target).variants:
        return target
    _say(f"exporting {args.model} with an int8 variant to {target} (once)")
    return export_model(args.model, target, int8=True, progress=_say).path


def _tile(pixels: np.ndarray, count: int) -> np.ndarray:
    """``count`` rows cycling through the reference images."""
    return np.ascontiguousarray(pixels[np.arange(count) % len(pixels)])


def _measure(
    embed_batch: Callable[[np.ndarray], object],
    embed_query: Callable[[str], object],
    pixels: np.ndarray,
    args: argparse.Namespace,
) -> dict[str, float]:
    batches = [pixels[i : i + args.batch_size] for i in range(0, len(pixels), args.batch_size)]

    def all_images() -> None:
        for batch in batches:
            embed_batch(batch)

    def all_queries() -> None:
        for query in QUERIES:
            embed_query(query)

    image_seconds = median_seconds(all_images, args.repeats)
    query_seconds = median_seconds(all_queries, args.repeats) / len(QUERIES)
    return {"images_per_s": len(pixels) / image_seconds, "text_query_ms": query_seconds * 1000}


_RUNTIME_COLD = """
import sys
from dclip_core.runtime.encoders import ClipEncoder
encoder = ClipEncoder.load(sys.argv[1], provider="cpu", threads=int(sys.argv[2]))
encoder.embed_texts(["a dog running on the beach"])
"""

_TORCH_COLD = """
import sys
import open_clip
import torch
from dclip_core.models.clip import build_clip_architecture
from dclip_core.models.registry import get_model_spec
torch.set_num_threads(int(sys.argv[2]))
model = build_clip_architecture(get_model_spec(sys.argv[3]))
model.load_state_dict(torch.load(sys.argv[1], map_location="cpu", weights_only=True))
model.eval()
with torch.inference_mode():
    model.encode_text(open_clip.tokenize(["a dog running on the beach"]), normalize=True)
"""


def _cold_start(bundle: Path, model: Any, repeats: int, threads: int) -> dict[str, float]:
    """Median wall time of a fresh process embedding one query, for each path."""
    import torch

    from dclip_core.runtime.bundle import load_manifest

    spec_name = load_manifest(bundle, verify=False).model_spec
    with tempfile.TemporaryDirectory(prefix="dclip-bench-") as tmp:
        # The torch path loads real weights from a file, as an open_clip program would.
        weights = Path(tmp) / "weights.pt"
        torch.save(model.state_dict(), weights)
        commands = {
            "runtime": [sys.executable, "-c", _RUNTIME_COLD, str(bundle), str(threads)],
            "open_clip": [
                sys.executable,
                "-c",
                _TORCH_COLD,
                str(weights),
                str(threads),
                spec_name,
            ],
        }
        out: dict[str, float] = {}
        for name, command in commands.items():
            _say(f"cold start: {name} ({repeats} fresh processes)")
            # No warm-up run: the bundle and the weights file were just read or written, so both
            # paths start from a warm file cache anyway.
            out[name] = median_seconds(functools.partial(_run_fresh, command), repeats, warmup=0)
    return out


def _embed_query(encoder: ClipEncoder, query: str) -> np.ndarray:
    return encoder.embed_texts([query])


def _run_fresh(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise DclipError(f"a cold-start process failed ({last}): {' '.join(command[3:])}")


def _print_report(report: dict[str, Any]) -> None:
    results = report["results"]
    base = results["torch"]
    print(
        f"encode: {report['model']}, {report['images']} images (batch {report['batch_size']}), "
        f"{report['threads']} threads, median of {report['repeats']}"
    )
    print(f"{'engine':<18}{'images/s':>10}{'query ms':>11}   vs torch (images/s, query speed)")
    labels = {"torch": "open_clip torch", "onnx_fp32": "ONNX fp32", "onnx_int8": "ONNX int8"}
    for key in ("torch", "onnx_fp32", "onnx_int8"):
        if key not in results:
            continue
        row = results[key]
        ratio = ""
        if key != "torch":
            ratio = (
                f"   {row['images_per_s'] / base['images_per_s']:.2f}x, "
                f"{base['text_query_ms'] / row['text_query_ms']:.2f}x"
            )
        print(f"{labels[key]:<18}{row['images_per_s']:>10.1f}{row['text_query_ms']:>11.1f}{ratio}")
    cold = report["cold_start_s"]
    if cold:
        speedup = cold["open_clip"] / cold["runtime"]
        print(
            f"cold start, one text query in a fresh process: runtime {cold['runtime']:.2f} s, "
            f"open_clip {cold['open_clip']:.2f} s ({speedup:.1f}x faster)"
        )
    quality = report["int8_quality"]
    if quality:
        print(
            f"int8 vs fp32 mean cosine (export reference set): image "
            f"{quality['image_mean_cosine']:.4f}, text {quality['text_mean_cosine']:.4f}"
        )


def _command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run."""
    source = f"--bundle {args.bundle}" if args.bundle else f"--model {args.model}"
    return (
        f"dclip bench encode {source} --images {args.images} --batch-size {args.batch_size} "
        f"--threads {args.threads} --repeats {args.repeats} --cold-repeats {args.cold_repeats}"
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _say(line: str) -> None:
    print(f"dclip: bench encode: {line}", file=sys.stderr, flush=True)
