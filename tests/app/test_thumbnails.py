"""Thumbnails load in the background, are cached LRU, and broken files show as failed."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from pytestqt.qtbot import QtBot

from dclip_app.thumbnails import ThumbnailCache, ThumbnailState, decode_thumbnail
from dclip_app.workers import WorkerPool

pytestmark = pytest.mark.gui


@pytest.fixture
def pool(qtbot: QtBot) -> WorkerPool:
    pool = WorkerPool(max_threads=2)
    yield pool
    pool.cancel_all()
    assert pool.wait_for_done(5000)


def _photo(path: Path, size: tuple[int, int], color: tuple[int, int, int]) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


def test_decode_scales_to_fit_and_keeps_aspect(tmp_path: Path) -> None:
    wide = _photo(tmp_path / "wide.jpg", (1200, 600), (200, 30, 30))
    image = decode_thumbnail([wide], 160)
    assert (image.width(), image.height()) == (160, 80)


def test_decode_applies_exif_orientation(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: "rotate 90° clockwise to view"
    Image.new("RGB", (400, 200), (10, 120, 10)).save(path, exif=exif)
    image = decode_thumbnail([path], 100)
    assert (image.width(), image.height()) == (50, 100)


def test_lookup_loads_in_background_then_serves_from_cache(
    qtbot: QtBot, pool: WorkerPool, tmp_path: Path
) -> None:
    good = _photo(tmp_path / "good.png", (300, 200), (0, 0, 255))
    cache = ThumbnailCache(pool, 64)
    state, pixmap = cache.lookup(str(good), lambda: [good])
    assert state is ThumbnailState.LOADING
    assert pixmap is None
    with qtbot.waitSignal(cache.ready, timeout=5000) as ready:
        pass
    assert ready.args == [str(good)]
    state, pixmap = cache.lookup(str(good), lambda: [good])
    assert state is ThumbnailState.READY
    assert pixmap is not None
    assert pixmap.width() == 64
    assert 42 <= pixmap.height() <= 43
    assert cache.decoded_count == 1


def test_falls_back_to_next_source_and_reports_broken_files(
    qtbot: QtBot, pool: WorkerPool, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    original = _photo(tmp_path / "original.png", (50, 50), (0, 200, 0))
    cache = ThumbnailCache(pool, 64)
    cache.lookup("a", lambda: [broken, original])
    cache.lookup("b", lambda: [broken])
    qtbot.waitUntil(
        lambda: (
            cache.lookup("a", lambda: [])[0] is ThumbnailState.READY
            and cache.lookup("b", lambda: [])[0] is ThumbnailState.FAILED
        ),
        timeout=5000,
    )
    assert "broken.jpg" in (cache.failure_reason("b") or "")


def test_lru_budget_evicts_least_recently_used(
    qtbot: QtBot, pool: WorkerPool, tmp_path: Path
) -> None:
    paths = [_photo(tmp_path / f"p{i}.png", (64, 64), (i * 40, 0, 0)) for i in range(5)]
    one = 64 * 64 * 4
    cache = ThumbnailCache(pool, 64, budget_bytes=3 * one)
    for path in paths:
        cache.lookup(str(path), lambda path=path: [path])
        qtbot.waitUntil(lambda path=path: str(path) in cache._pixmaps, timeout=5000)
    assert len(cache) == 3
    assert cache.used_bytes <= 3 * one
    # The two oldest went; the newest stay.
    assert cache.lookup(str(paths[4]), lambda: [paths[4]])[0] is ThumbnailState.READY
    assert cache.lookup(str(paths[0]), lambda: [paths[0]])[0] is ThumbnailState.LOADING


def test_requests_scrolled_out_of_the_pending_window_are_not_decoded(
    qtbot: QtBot, tmp_path: Path
) -> None:
    pool = WorkerPool(max_threads=1)
    path = _photo(tmp_path / "p.png", (32, 32), (1, 2, 3))
    cache = ThumbnailCache(pool, 32, max_pending=4)
    # Block the only thread so requests pile up, as when flinging through a long grid.
    import threading

    gate = threading.Event()
    pool.start(lambda control: gate.wait(5), "gate")
    for i in range(40):
        cache.lookup(f"k{i}", lambda: [path])
    gate.set()
    assert pool.wait_for_done(5000)
    qtbot.waitUntil(lambda: cache.decoded_count >= 4, timeout=5000)
    qtbot.wait(50)
    assert cache.decoded_count <= 5  # only the newest few were decoded
    assert cache.lookup("k39", lambda: [path])[0] is ThumbnailState.READY
