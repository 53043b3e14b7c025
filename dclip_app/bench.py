"""App benchmarks: start-up time, GUI-thread latency while indexing, the annotation canvas.

``python -m dclip_app.bench start [--repeats N]``
    Wall time from launching a fresh process to the first event-loop turn after the main window is
    shown ("interactive"), against a baseline in the same run: a process that only shows an empty
    ``QMainWindow`` (what PySide6 itself costs). Also checks that torch was never imported.

``python -m dclip_app.bench latency [--images N]``
    A 10 ms ``QTimer`` records how late each tick fires (event-loop latency) while the app indexes
    N generated photos with the test-tiny bundle; the baseline is the same probe over an idle app.

``python -m dclip_app.bench annotate [--repeats N] [--opens M] [--json]``
    The annotation window on a 6000×4000 photo: open time (baseline 1200×800), and one box moved,
    selected or hovered plus a forced repaint with 200 boxes on the photo (baseline 1 box); see
    :mod:`dclip_app.bench_annotate`. Prints a table unless ``--json``.

All print medians/maxima and the command; numbers go to docs/benchmarks.md ("## App").
Runs offscreen unless a display is set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _probe_start(kind: str, launched_at: float) -> None:
    """Child process: show the window, report seconds since launch at the first idle turn."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication(sys.argv[:1])
    if kind == "app":
        from dclip_app.app import create_main_window

        window = create_main_window(app)
        window.show()
        QTimer.singleShot(0, window.start)
    else:
        window = QMainWindow()  # type: ignore[assignment]
        window.show()

    def done() -> None:
        elapsed = time.time() - launched_at
        print(json.dumps({"seconds": elapsed, "torch_imported": "torch" in sys.modules}))
        app.quit()

    # Two zero-timers: the first runs after show() is processed, the second after window.start.
    QTimer.singleShot(0, lambda: QTimer.singleShot(0, done))
    app.exec()


def bench_start(repeats: int) -> dict[str, object]:
    results: dict[str, list[float]] = {"baseline (empty QMainWindow)": [], "dclip-app": []}
    torch_seen = False
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "DCLIP_HOME": home}
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        for _ in range(repeats + 1):  # the first round warms the OS file cache, and is dropped
            for label, kind in (("baseline (empty QMainWindow)", "bare"), ("dclip-app", "app")):
                launched = time.time()
                out = subprocess.run(
                    [sys.executable, "-m", "dclip_app.bench", "_probe", kind, repr(launched)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                line = next(ln for ln in out.stdout.splitlines() if ln.startswith("{"))
                data = json.loads(line)
                results[label].append(float(data["seconds"]))
                torch_seen |= bool(data["torch_imported"])
    return {
        "repeats": repeats,
        "median_s": {k: round(statistics.median(v[1:]), 3) for k, v in results.items()},
        "max_s": {k: round(max(v[1:]), 3) for k, v in results.items()},
        "torch_imported": torch_seen,
    }


def _write_photos(folder: Path, count: int) -> None:
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = Image.new("RGB", (160, 120), ((i * 37) % 255, (i * 91) % 255, (i * 53) % 255))
        ImageDraw.Draw(image).ellipse((20 + i % 40, 10, 120, 100), fill=(250 - i % 200, 40, 90))
        image.save(folder / f"photo{i:05d}.jpg", quality=85)


def bench_latency(images: int, tick_ms: int = 10) -> dict[str, object]:
    """Event-loop lateness while indexing ``images`` photos, and over an idle app (baseline)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = Path(tempfile.mkdtemp(prefix="dclip-bench-app-"))
    os.environ["DCLIP_HOME"] = str(home)
    # Export the tiny bundle in a child process: this process must stay torch-free, like the app.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from dclip_core.export import ensure_bundle; ensure_bundle('test-tiny')",
        ],
        check=True,
    )
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from dclip_app.app import create_main_window
    from dclip_core.config import Settings, get_paths, save_settings

    save_settings(
        Settings(model=str(get_paths().bundles_dir / "test-tiny"), execution_provider="cpu")
    )
    photos = home / "photos"
    _write_photos(photos, images)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = create_main_window(app)  # type: ignore[arg-type]
    window.show()
    loaded: list[bool] = []
    window.service.model_loaded.connect(lambda *_: loaded.append(True))
    window.start()
    while not loaded:
        app.processEvents()
        time.sleep(0.005)

    def probe(duration_s: float | None, until: list[bool] | None = None) -> list[float]:
        lateness: list[float] = []
        clock = QElapsedTimer()
        clock.start()
        last = [clock.elapsed()]
        timer = QTimer()
        timer.setInterval(tick_ms)

        def tick() -> None:
            now = clock.elapsed()
            lateness.append(max(0, now - last[0] - tick_ms))
            last[0] = now
            if (duration_s is not None and now > duration_s * 1000) or (until and until[0]):
                timer.stop()
                app.quit()

        timer.timeout.connect(tick)
        timer.start()
        app.exec()
        return lateness

    finished = [False]
    window.service.index_finished.connect(lambda _msg: finished.__setitem__(0, True))
    started = time.perf_counter()
    window.sidebar.add_requested.emit([photos])
    during = probe(None, finished)
    index_s = time.perf_counter() - started
    idle = probe(min(index_s, 10.0))
    indexed = window.service.folders[0].photos if window.service.folders else 0
    window.confirm_close = lambda work: True  # type: ignore[method-assign]
    window.close()

    def stats(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "ticks": len(values),
            "median_ms": statistics.median(ordered),
            "p99_ms": ordered[int(0.99 * (len(ordered) - 1))],
            "max_ms": ordered[-1],
        }

    return {
        "images": images,
        "indexed": indexed,
        "index_seconds": round(index_s, 2),
        "while_indexing": stats(during),
        "baseline_idle": stats(idle),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_probe":
        _probe_start(argv[1], float(argv[2]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m dclip_app.bench", description=__doc__)
    sub = parser.add_subparsers(dest="which", required=True)
    p_start = sub.add_parser("start", help="start-up time of the app vs an empty Qt window")
    p_start.add_argument("--repeats", type=int, default=5)
    p_lat = sub.add_parser("latency", help="GUI-thread latency while indexing")
    p_lat.add_argument("--images", type=int, default=1000)
    p_ann = sub.add_parser("annotate", help="annotation window: large photo, many boxes")
    p_ann.add_argument("--repeats", type=int, default=30, help="edits, selections, hovers each")
    p_ann.add_argument("--opens", type=int, default=5, help="windows opened per photo")
    p_ann.add_argument("--json", action="store_true", help="print JSON, not a table")
    args = parser.parse_args(argv)
    if args.which == "annotate":
        from dclip_app.bench_annotate import bench_annotate, table

        annotate = bench_annotate(args.repeats, args.opens)
        command = (
            f"python -m dclip_app.bench annotate --repeats {args.repeats} --opens {args.opens}"
        )
        print(json.dumps(annotate, indent=2) if args.json else table(annotate, command))
        return 0
    result = bench_start(args.repeats) if args.which == "start" else bench_latency(args.images)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
