"""``dclip bench index``'s measurements of the limit (issue 19), on tiny inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from dclip_core.bench.index_ceilings import (
    bound_photos_per_s,
    decode_ceiling,
    model_ceiling,
    run_cli_index,
)


def test_bound_is_cores_over_the_summed_cpu_cost() -> None:
    # 2 cores, 30 ms decode + 100 ms model per photo: 2 / 0.13 photos/s.
    assert bound_photos_per_s(2, 0.030, 0.100) == pytest.approx(15.38, abs=0.01)
    # Halving either cost raises the bound; more cores raise it in proportion.
    assert bound_photos_per_s(4, 0.030, 0.100) == pytest.approx(
        2 * bound_photos_per_s(2, 0.030, 0.100)
    )


@pytest.fixture
def jpegs(tmp_path: Path) -> Path:
    folder = tmp_path / "jpegs"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (1200, 900), (40 * i, 80, 120)).save(folder / f"IMG_{i}.jpg", quality=90)
    return folder


def test_ceilings_report_rates_and_cpu_costs(jpegs: Path, tiny_bundle: Path) -> None:
    decode = decode_ceiling(str(jpegs), min_side=256, workers=2)
    model = model_ceiling(str(tiny_bundle), "fp32", batch_size=4, images=8)
    for row in (decode, model):
        assert row["photos_per_s"] > 0
        assert row["cpu_s_per_photo"] > 0


@pytest.mark.slow
def test_cli_index_is_timed_in_its_own_process(
    jpegs: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    result = run_cli_index(str(jpegs), str(tiny_bundle), "int8", str(tmp_path / "home"))
    assert result["photos"] == 4
    assert result["seconds"] > 0
    assert 20 < result["peak_rss_mb"] < 2000  # the child's own peak, not this process's
