"""``dclip demo`` as a user runs it: offline, cached after the first run, never touching the
user's own library."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dclip_core.shapes.world import scenes_by_file
from tests.helpers.shapes_demo import dclip, shared_demo


@pytest.mark.slow
def test_demo_builds_indexes_and_prints_a_sample_search(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    demo = shared_demo(tmp_path_factory)
    first = demo.first_run
    # Progress on stderr, the sample search on stdout: the photos it lists are demo photos.
    assert "training the demo model" in first.stderr
    assert "sample search" in first.stderr
    listed = [line for line in first.stdout.splitlines() if str(demo.photos) in line]
    assert len(listed) == 10, first.stdout
    assert "of the top 10 contain a red circle (checked against scenes.json)" in first.stdout
    # Everything stays inside the demo's folder: the user's library was never created.
    assert not (demo.user_home / "data" / "library").exists()
    settings = json.loads((demo.demo_home / "config" / "settings.json").read_text())
    assert settings["model"] == "shapes-demo"


@pytest.mark.slow
def test_second_demo_run_reuses_the_trained_model(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    demo = shared_demo(tmp_path_factory)
    bundle_stamp = (demo.bundle / "bundle.json").stat().st_mtime_ns
    started = time.perf_counter()
    again = dclip("demo", "--no-app", home=demo.user_home)
    assert again.returncode == 0, again.stderr[-2000:]
    assert time.perf_counter() - started < 60
    assert "using the demo model trained earlier" in again.stderr
    assert "training the demo model" not in again.stderr
    assert (demo.bundle / "bundle.json").stat().st_mtime_ns == bundle_stamp
    # Nothing changed on disk, so nothing is embedded again.
    assert "1000 demo photos indexed (0 new)" in again.stderr
    scenes = scenes_by_file(demo.photos)
    assert len(scenes) == 1000


def test_demo_help_offers_rebuild_and_no_app(tmp_path: Path) -> None:
    out = dclip("demo", "--help", home=tmp_path)
    assert out.returncode == 0
    assert "--rebuild" in out.stdout
    assert "--no-app" in out.stdout
    assert "--pretrain-steps" in out.stdout
    zero = dclip("demo", "--pretrain-steps", "0", home=tmp_path)
    assert zero.returncode == 2
    assert "must be at least 1, not 0" in zero.stderr
    assert not (tmp_path / "data" / "demo").exists()  # refused before anything was built
