"""The fast pipeline stores exactly what a plain one-photo-at-a-time path would (issue 19).

The reference below shares nothing with the indexer but the public building blocks a user would
call: open the file, read its header, decode it reduced, preprocess, embed it alone. Whatever the
pipeline does for speed (decode pool at low priority, batches, out-of-order completion, header
read once) must not change a stored row or vector.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from dclip_core.library import IndexOptions, Library
from dclip_core.library.decoder import iso_from_mtime
from dclip_core.library.indexer import CPU_BATCH_SIZE, GPU_BATCH_SIZE, index_batch_size
from dclip_core.library.preparer import (
    CPU_PROVIDER,
    DECODE_NICENESS,
    decode_workers,
    lower_thread_priority,
)
from dclip_core.library.scanner import content_hash
from dclip_core.library.schema import DB_FILE_NAME
from dclip_core.runtime.encoders import ClipEncoder
from dclip_core.runtime.images import load_image
from dclip_core.runtime.preprocess import preprocess_image
from tests.helpers.images import exif_bytes, sample_photo, write_real_photos

ROW_FIELDS = ("size", "mtime_ns", "content_hash", "width", "height", "taken_at", "taken_source")


def _reference_row(path: Path) -> dict[str, object]:
    """What the images table must hold for ``path``, from a plain full opening of the file."""
    stat = path.stat()
    with Image.open(path) as opened:
        upright = ImageOps.exif_transpose(opened)
        width, height = upright.size
        date = opened.getexif().get_ifd(0x8769).get(0x9003)
    taken = (
        (str(date)[:10].replace(":", "-") + "T" + str(date)[11:19], "exif")
        if date
        else (iso_from_mtime(stat.st_mtime_ns), "mtime")
    )
    return {
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "content_hash": content_hash(str(path), stat.st_size),
        "width": width,
        "height": height,
        "taken_at": taken[0],
        "taken_source": taken[1],
    }


def _reference_vector(encoder: ClipEncoder, path: Path, min_side: int) -> np.ndarray:
    """One photo, decoded reduced like the library asks, embedded alone."""
    image = load_image(path, min_side=min_side).convert("RGB")
    pixels = preprocess_image(image, encoder.manifest.image.preprocess)[None]
    return encoder.embed_pixels(pixels)[0]


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real photos in several formats plus camera-like JPEGs large enough for reduced decoding."""
    folder = tmp_path_factory.mktemp("pipeline") / "photos"
    write_real_photos(folder)
    for i, name in enumerate(("astronaut", "chelsea", "coffee")):
        big = sample_photo(name).resize((2048, 1536), Image.Resampling.BICUBIC)
        big.save(
            folder / f"camera{i}.jpg",
            quality=90,
            exif=exif_bytes(f"2024:03:0{i + 1} 12:00:00", orientation=6 if i == 1 else 1),
        )
    return folder


def test_pipeline_stores_the_same_rows_and_vectors_as_one_at_a_time(
    photos: Path, tiny_encoder: ClipEncoder, tmp_path: Path
) -> None:
    library = Library(tmp_path / "library")
    options = IndexOptions(batch_size=3, workers=3)  # several batches, completions out of order
    report = library.index([photos], encoder=tiny_encoder, options=options)
    library.close()
    usable = sorted(p for p in photos.iterdir() if p.is_file())
    assert report.embedded == len(usable)
    assert report.failed == 0

    conn = sqlite3.connect(tmp_path / "library" / DB_FILE_NAME)
    rows = {
        row[0]: dict(zip(("id", "status", *ROW_FIELDS), row[1:], strict=True))
        for row in conn.execute(
            "SELECT path, id, status, " + ", ".join(ROW_FIELDS) + " FROM images"
        )
    }
    vectors = {
        image_id: np.frombuffer(blob, dtype="<f4")
        for image_id, blob in conn.execute("SELECT image_id, vector FROM embeddings")
    }
    conn.close()
    assert sorted(rows) == [str(p) for p in usable]
    min_side = max(tiny_encoder.manifest.image.preprocess.size, options.thumbnail_size)
    for path in usable:
        stored = rows[str(path)]
        assert stored["status"] == "ok"
        assert {k: stored[k] for k in ROW_FIELDS} == _reference_row(path), path.name
        expected = _reference_vector(tiny_encoder, path, min_side)
        np.testing.assert_allclose(
            vectors[int(stored["id"])], expected, atol=2e-5, err_msg=path.name
        )


def test_reference_would_notice_a_different_decode(photos: Path, tiny_encoder: ClipEncoder) -> None:
    """The comparison above is sharp enough: decoding in full instead of reduced changes vectors."""
    path = photos / "camera0.jpg"
    reduced = _reference_vector(tiny_encoder, path, 256)
    image = load_image(path).convert("RGB")
    full = tiny_encoder.embed_pixels(
        preprocess_image(image, tiny_encoder.manifest.image.preprocess)[None]
    )[0]
    assert not np.allclose(reduced, full, atol=2e-5)


def test_batch_and_pool_sizes_follow_provider_and_cores() -> None:
    assert index_batch_size(0, CPU_PROVIDER) == CPU_BATCH_SIZE
    assert index_batch_size(0, "CUDAExecutionProvider") == GPU_BATCH_SIZE
    assert index_batch_size(5, CPU_PROVIDER) == 5
    assert decode_workers(0, CPU_PROVIDER, cpu_count=2) == 2
    assert decode_workers(0, "CUDAExecutionProvider", cpu_count=16) == 16
    assert decode_workers(3, CPU_PROVIDER, cpu_count=16) == 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_decode_threads_yield_to_the_model() -> None:
    seen: list[int] = []

    def worker() -> None:
        lower_thread_priority()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [DECODE_NICENESS]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < DECODE_NICENESS
