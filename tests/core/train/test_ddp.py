"""torchrun with 2 CPU processes (gloo) follows the same loss curve as one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dclip_core.cli import main
from dclip_core.shapes.scenes import write_shapes_dataset


def _losses(stdout: str) -> list[float]:
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [float(e["loss"]) for e in events if e["event"] == "step"]


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "photos"
    write_shapes_dataset(data, 20, seed=11, image_size=64)
    args = [
        "train-teacher",
        "--data",
        f"folder={data}",
        "--model",
        "test-tiny",
        "--recipe",
        "quick",
    ]
    args += ["--regions", "gt", "--batch-size", "6", "--epochs", "2", "--lr", "3e-3"]
    args += ["--events", "jsonl", "--set", "precision=fp32", "--device", "cpu"]

    assert main([*args, "--out", str(tmp_path / "single")]) == 0
    single = _losses(capsys.readouterr().out)

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "dclip_core",
            *args,
            "--out",
            str(tmp_path / "ddp"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = _losses(proc.stdout)
    # 18 training images in global batches of 6 (3 per rank): 3 steps per epoch, 2 epochs
    assert len(single) == len(ddp) == 6
    assert ddp == pytest.approx(single, rel=1e-4, abs=1e-5)
    assert (tmp_path / "ddp" / "teacher.safetensors").is_file()
