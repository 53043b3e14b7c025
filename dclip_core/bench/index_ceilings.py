"""The measurements behind ``dclip bench index``: full ``dclip index``, steady state, ceilings.

Each function runs in a fresh child process (spawned by :mod:`dclip_core.bench.index`), so its
peak memory and its threads are its own:

* :func:`run_cli_index` — ``dclip index FOLDER`` as a user types it, in a new process, into a
  fresh library: wall time from process start to exit and its peak RSS (``os.wait4``);
* :func:`run_steady_index` — ``Library.index`` in-process with a progress callback: the rate
  between the first and the last commit, i.e. with the first batch's decode (nothing to overlap
  yet) and start-up left out;
* :func:`model_ceiling` — the bare image model on random pixels in batches, nothing else running;
* :func:`decode_ceiling` — the bare reduced JPEG decode of the same files
  (:func:`~dclip_core.runtime.images.load_image` at the indexer's size), one thread per core.

Both ceilings report CPU seconds per photo (process CPU time, all threads), from which
:func:`bound_photos_per_s` gives the most any pipeline could do on those cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np


def bound_photos_per_s(cores: int, decode_cpu_s: float, model_cpu_s: float) -> float:
    """Photos/s when ``cores`` do nothing but decode and embed, each photo costing the sum.

    Args:
        cores: cores of the machine.
        decode_cpu_s: CPU seconds to decode one photo (from :func:`decode_ceiling`).
        model_cpu_s: CPU seconds to embed one photo (from :func:`model_ceiling`).
    """
    return cores / (decode_cpu_s + model_cpu_s)


def model_ceiling(bundle: str, variant: str, batch_size: int, images: int) -> dict[str, Any]:
    """Child process: the bare image model, ``images`` random pixels in batches, after a warm-up."""
    from dclip_core.runtime.encoders import ClipEncoder

    encoder = ClipEncoder.load(Path(bundle), provider="cpu", variant=variant, spinning=False)
    size = encoder.manifest.image.preprocess.size
    pixels = np.random.default_rng(0).random((batch_size, 3, size, size), dtype=np.float32)
    encoder.embed_pixels(pixels)  # open the session and warm up
    batches = max(1, images // batch_size)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(batches):
        encoder.embed_pixels(pixels)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    done = batches * batch_size
    return {"photos_per_s": done / wall, "cpu_s_per_photo": cpu / done}


def decode_ceiling(folder: str, min_side: int, workers: int) -> dict[str, Any]:
    """Child process: reduced decode of every JPEG in ``folder`` by ``workers`` threads."""
    from dclip_core.runtime.images import load_image

    paths = sorted(Path(folder).glob("*.jpg"))
    load_image(paths[0], min_side=min_side)  # import plugins, warm the file cache
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(lambda p: load_image(p, min_side=min_side), paths):
            pass
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"photos_per_s": len(paths) / wall, "cpu_s_per_photo": cpu / len(paths)}


def run_steady_index(folder: str, bundle: str, variant: str, batch_size: int) -> dict[str, Any]:
    """Child process: ``Library.index`` into the (fresh) library of ``DCLIP_HOME``, timing commits.

    The parent empties that library and its thumbnails first; the session cache stays warm.
    """
    from dclip_core.config import get_paths
    from dclip_core.library import IndexOptions, IndexProgress, Library
    from dclip_core.runtime.encoders import ClipEncoder

    encoder = ClipEncoder.load(Path(bundle), provider="cpu", variant=variant, spinning=False)
    size = encoder.manifest.image.preprocess.size
    encoder.embed_pixels(np.zeros((1, 3, size, size), np.float32))  # open the session
    commits: list[tuple[float, int]] = []

    def on_progress(progress: IndexProgress) -> None:
        done = progress.embedded + progress.failed
        if progress.phase == "indexing" and done and (not commits or commits[-1][1] != done):
            commits.append((time.perf_counter(), done))

    library = Library(get_paths().library_dir)
    started = time.perf_counter()
    report = library.index(
        [Path(folder)],
        encoder=encoder,
        progress=on_progress,
        options=IndexOptions(batch_size=batch_size),
    )
    seconds = time.perf_counter() - started
    library.close()
    if len(commits) > 1:
        (t0, n0), (t1, n1) = commits[0], commits[-1]
        steady_rate = (n1 - n0) / (t1 - t0)
    else:
        steady_rate = report.embedded / seconds
    return {"photos_per_s": report.embedded / seconds, "steady_photos_per_s": steady_rate}


# ``dclip`` with its own peak RSS written to stderr at exit. ``ru_maxrss`` from wait4 will not
# do on Linux: a forked child starts with its parent's high-water mark, and this benchmark's parent
# has run the model ceilings in-process (GBs). VmHWM belongs to the exec'ed image alone.
_CLI_WITH_PEAK = """
import atexit, sys

def _peak():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    sys.stderr.write("DCLIP_PEAK_KB " + line.split()[1] + "\\n")
    except OSError:
        pass

atexit.register(_peak)
from dclip_core.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_cli_index(folder: str, bundle: str, variant: str, home: str) -> dict[str, Any]:
    """``dclip index FOLDER`` in a new process with ``DCLIP_HOME=home`` (a fresh library there).

    Returns wall seconds from start to exit, the photos embedded and the child's peak RSS (its
    own VmHWM; NaN where there is no /proc).
    """
    env = {**os.environ, "DCLIP_HOME": home}
    command = [sys.executable, "-c", _CLI_WITH_PEAK, "index", folder, "--model", bundle]
    command += ["--variant", variant, "--json"]
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = child.communicate()
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"dclip index failed with exit code {child.returncode}")
    report = json.loads(stdout)
    peaks = [
        line.split()[1]
        for line in stderr.decode(errors="replace").splitlines()
        if line.startswith("DCLIP_PEAK_KB ")
    ]
    return {
        "seconds": seconds,
        "photos": int(report["embedded"]),
        "peak_rss_mb": int(peaks[-1]) / 1024 if peaks else float("nan"),
    }
