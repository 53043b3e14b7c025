"""Getting a usable model bundle: what is missing, and the background steps that provide it.

These functions hold no Qt; the first-run panel runs them through the worker pool. Export needs
torch, which the app never imports, so it runs ``dclip export`` in a child process whose stderr
lines are passed on as progress and which is terminated on cancel. The offline demo is built the
same way, by :mod:`dclip_app.demo_setup`.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dclip_app.workers import TaskCancelled, TaskControl
from dclip_core.config import get_paths
from dclip_core.config.processes import dclip_command
from dclip_core.errors import BundleError, ExportError, UnknownModelError
from dclip_core.models.registry import ModelSpec, get_model_spec
from dclip_core.runtime.bundle import resolve_bundle


@dataclass(frozen=True)
class ModelState:
    """Where the configured model stands.

    Attributes:
        model: the settings value (a registered name or a bundle path).
        bundle: the bundle folder when one exists (then nothing else is needed).
        spec: the registered spec, when ``model`` names one.
        weights_ready: the spec needs no download, or its weights are in the cache.
        problem: why the model cannot be prepared here (unknown name, broken path), if so.
    """

    model: str
    bundle: Path | None
    spec: ModelSpec | None
    weights_ready: bool
    problem: str | None = None

    @property
    def ready(self) -> bool:
        return self.bundle is not None


def model_state(model: str) -> ModelState:
    """Check, without torch and without the network, what the configured model still needs."""
    from dclip_core.models.weights import cached_weights_path

    try:
        return ModelState(model, resolve_bundle(model), None, True)
    except BundleError as exc:
        bundle_problem = str(exc)
    try:
        spec = get_model_spec(model)
    except UnknownModelError as exc:
        return ModelState(model, None, None, False, f"{bundle_problem}; {exc}")
    weights_ready = not spec.needs_download or cached_weights_path(spec) is not None
    return ModelState(model, None, spec, weights_ready)


@dataclass(frozen=True)
class DownloadProgress:
    done_bytes: int
    total_bytes: int | None
    rate_bytes_s: float


def download_weights_task(spec: ModelSpec) -> Callable[[TaskControl], Path]:
    """A worker task that downloads (and verifies) the spec's weights into the cache."""

    def task(control: TaskControl) -> Path:
        from dclip_core.errors import DownloadCancelledError
        from dclip_core.models.weights import ensure_weights

        start = time.monotonic()

        def progress(done: int, total: int | None) -> None:
            elapsed = max(time.monotonic() - start, 1e-3)
            control.report(DownloadProgress(done, total, done / elapsed))

        try:
            return ensure_weights(spec, progress=progress, cancel=control.cancel_event)
        except DownloadCancelledError as exc:
            raise TaskCancelled from exc

    return task


def import_weights_task(spec: ModelSpec, path: Path) -> Callable[[TaskControl], Path]:
    """A worker task that checks a user-supplied weights file and copies it into the cache."""

    def task(control: TaskControl) -> Path:
        from dclip_core.models.weights import import_weights

        control.report(f"Checking {path.name}…", force=True)
        return import_weights(spec, path)

    return task


def export_command(model: str, out: Path) -> list[str]:
    """The ``dclip export`` command line that builds the bundle of a registered model."""
    return dclip_command("export", "--model", model, "--out", str(out))


def export_bundle_task(model: str) -> Callable[[TaskControl], Path]:
    """A worker task that exports the model's bundle in a child process (torch lives there)."""

    def task(control: TaskControl) -> Path:
        out = get_paths().bundles_dir / model
        command = export_command(model, out)
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        last_lines: list[str] = []
        assert process.stderr is not None
        try:
            for line in process.stderr:
                line = line.strip()
                if line:
                    last_lines = [*last_lines[-4:], line]
                    control.report(line)
                if control.cancelled:
                    break
        finally:
            if control.cancelled and process.poll() is None:
                # The exporter writes into a temp folder and renames at the end, so stopping it
                # leaves no half bundle behind.
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
            code = process.wait()
        if control.cancelled:
            raise TaskCancelled
        if code != 0:
            detail = last_lines[-1] if last_lines else f"exit code {code}"
            raise ExportError(f"preparing model {model!r} failed: {detail}")
        return resolve_bundle(out)

    return task
