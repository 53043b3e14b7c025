"""``dclip bench quantised``: does an int8 image tower find what the fp32 one finds?

On a world with known answers (the shapes world's held-out scenes: each caption belongs to one
image), the same fp32 text vectors query two sets of image vectors — the bundle's fp32 image tower
and its int8 one (the bundle's own variant, or quantised here the way ``dclip export --int8``
does) — and the benchmark reports:

1. Recall@K (text -> image) of each: is the caption's own image among the first K?
2. the overlap of their top 10 for every query (1.0: the same ten images, in any order);
3. the mean cosine between the two image vectors of each photo.

The rule that uses these numbers is in docs/adr/0020-indexing-at-the-machines-limit.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from dclip_core.bench import benchmark


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", type=Path, required=True, help="bundle folder (fp32 towers)")
    parser.add_argument(
        "--images", type=Path, required=True, help="folder of images with captions.csv"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def recall_at(scores: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Share of queries (rows) whose true image index is among their ``k`` best scores."""
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean((top == truth[:, None]).any(axis=1)))


def top_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean share of the ``k`` best images two score matrices (queries x images) agree on."""
    top_a = np.argsort(-a, axis=1)[:, :k]
    top_b = np.argsort(-b, axis=1)[:, :k]
    shared = [len(set(x) & set(y)) / k for x, y in zip(top_a, top_b, strict=True)]
    return float(np.mean(shared))


def _int8_image_vectors(bundle: Path, pixels: np.ndarray) -> np.ndarray:
    """Image vectors from the bundle's int8 image tower, quantised here when it has none."""
    import onnxruntime as ort

    from dclip_core.export.quantize import quantize_int8
    from dclip_core.runtime.bundle import load_manifest

    manifest = load_manifest(bundle)
    with tempfile.TemporaryDirectory(prefix="dclip-bench-int8-") as tmp:
        if "int8" in manifest.variants:
            model = manifest.file_path(manifest.tower_files("int8")[0])
        else:
            model = Path(tmp) / "image-int8.onnx"
            quantize_int8(manifest.file_path(manifest.image.file), model)
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        out = [
            session.run(["embeddings"], {"pixels": pixels[i : i + 32]})[0]
            for i in range(0, len(pixels), 32)
        ]
    return np.concatenate(out).astype(np.float32)


@benchmark("quantised", "retrieval of int8 vs fp32 image vectors on a captioned world", _configure)
def run(args: argparse.Namespace) -> int:
    from dclip_core.runtime.encoders import ClipEncoder
    from dclip_core.runtime.images import load_image
    from dclip_core.runtime.preprocess import preprocess_batch

    with (args.images / "captions.csv").open(newline="", encoding="utf-8") as handle:
        pairs = [(row["file"], row["caption"]) for row in csv.DictReader(handle)]
    files = sorted({f for f, _ in pairs})
    index = {f: i for i, f in enumerate(files)}
    truth = np.array([index[f] for f, _ in pairs])
    encoder = ClipEncoder.load(args.bundle, provider="cpu")
    images = [load_image(args.images / f).convert("RGB") for f in files]
    pixels = preprocess_batch(images, encoder.manifest.image.preprocess)
    fp32 = encoder.embed_pixels(pixels)
    int8 = _int8_image_vectors(args.bundle, pixels)
    int8 /= np.linalg.norm(int8, axis=1, keepdims=True)
    texts = encoder.embed_texts([c for _, c in pairs])
    scores = {"fp32": texts @ fp32.T, "int8": texts @ int8.T}
    result: dict[str, Any] = {
        "bundle": str(args.bundle),
        "queries": len(pairs),
        "images": len(files),
        "recall": {
            name: {f"R@{k}": recall_at(s, truth, k) for k in (1, 5, 10)}
            for name, s in scores.items()
        },
        "top10_overlap": top_overlap(scores["fp32"], scores["int8"], 10),
        "image_cosine": float(np.mean(np.sum(fp32 * int8, axis=1))),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{len(pairs)} caption queries over {len(files)} images ({args.bundle.name})")
    print(f"{'image tower':<12} {'R@1':>6} {'R@5':>6} {'R@10':>6}")
    for name, row in result["recall"].items():
        print(f"{name:<12} {row['R@1']:>6.3f} {row['R@5']:>6.3f} {row['R@10']:>6.3f}")
    print(f"top-10 overlap int8 vs fp32: {result['top10_overlap']:.3f}")
    print(f"mean image cosine int8 vs fp32: {result['image_cosine']:.4f}")
    return 0
