"""``dclip export`` and ``dclip models info`` as a user runs them, including every bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dclip_core.cli import main
from dclip_core.runtime.bundle import MANIFEST_NAME, load_manifest, sha256_file


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code != 0
    errors = [line for line in err.splitlines() if line.startswith("dclip: error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in errors[0]


@pytest.mark.slow
def test_export_with_int8_then_info(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_dir = tmp_path / "tiny"
    code, out, err = run_cli(
        capsys, "export", "--model", "test-tiny", "--out", str(out_dir), "--int8", "--name", "T"
    )
    assert code == 0, err
    manifest = load_manifest(out_dir)
    assert manifest.name == "T"
    assert f"exported T to {out_dir} (fingerprint {manifest.fingerprint})" in out
    assert "int8 vs fp32 mean cosine: image 0." in out
    assert "results are meaningless" in err
    # Progress goes to stderr, one line per step.
    assert "dclip: export: exporting the text tower" in err
    assert "dclip: export: checking the ONNX towers against torch" in err

    code, out, err = run_cli(capsys, "models", "info", str(out_dir))
    assert code == 0, err
    assert manifest.fingerprint in out
    assert "int8 (mean cosine vs fp32" in out
    assert "auto picks" in out

    code, out, _ = run_cli(capsys, "models", "info", str(out_dir), "--json")
    info = json.loads(out)
    assert info["bundle"]["fingerprint"] == manifest.fingerprint
    assert set(info["bundle"]["variants"]) == {"int8"}
    assert info["providers"]["auto"] in info["providers"]["available"]
    assert info["providers"]["reason"]


def test_info_of_a_registered_model(capsys: pytest.CaptureFixture[str], dclip_home: Path) -> None:
    code, out, _ = run_cli(capsys, "models", "info", "test-tiny", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["model"]["name"] == "test-tiny"
    assert info["weights"]["state"] == "random init (no weights)"
    assert info["bundle"] is None
    code, out, _ = run_cli(capsys, "models", "info", "clip-vit-b-32")
    assert code == 0
    assert "missing (run `dclip models download clip-vit-b-32`)" in out
    assert f"not exported yet (would be {dclip_home / 'data' / 'bundles' / 'clip-vit-b-32'})" in out


def test_info_shows_an_exported_registered_model(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, dclip_home: Path
) -> None:
    shutil.copytree(tiny_bundle, dclip_home / "data" / "bundles" / "test-tiny")
    code, out, _ = run_cli(capsys, "models", "info", "test-tiny", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["bundle"]["fingerprint"] == load_manifest(tiny_bundle).fingerprint


def test_unknown_model_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(
        capsys, "export", "--model", "clip-vit-b33", "--out", str(tmp_path / "x")
    )
    assert_one_line_error(code, err, "unknown model 'clip-vit-b33'", "clip-vit-b-32")
    code, _, err = run_cli(capsys, "models", "info", "no-such-model")
    assert_one_line_error(code, err, "unknown model 'no-such-model'")


def test_missing_weights_offline_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCLIP_OFFLINE", "1")
    out_dir = tmp_path / "b32"
    code, _, err = run_cli(capsys, "export", "--model", "clip-vit-b-32", "--out", str(out_dir))
    assert_one_line_error(
        code, err, "ViT-B-32-openai.pt", "dclip models download", "dclip models import"
    )
    assert "building" not in err
    assert not out_dir.exists()


def test_missing_bundle_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "models", "info", str(tmp_path / "gone"))
    assert_one_line_error(code, err, "no model bundle at", "dclip export")
    code, _, err = run_cli(capsys, "models", "info", str(tmp_path))
    assert_one_line_error(code, err, "is not a model bundle")


def test_other_format_version_is_one_line(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path
) -> None:
    bundle = shutil.copytree(tiny_bundle, tmp_path / "future")
    data = json.loads((bundle / MANIFEST_NAME).read_text())
    data["format_version"] = 7
    (bundle / MANIFEST_NAME).write_text(json.dumps(data))
    code, _, err = run_cli(capsys, "models", "info", str(bundle))
    assert_one_line_error(code, err, "format version 7", "upgrade DCLIP")


def test_tampered_and_corrupt_files_are_one_line(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path
) -> None:
    tampered = shutil.copytree(tiny_bundle, tmp_path / "tampered")
    model = tampered / "image.onnx"
    model.write_bytes(model.read_bytes()[:-10] + b"0123456789")
    code, _, err = run_cli(capsys, "models", "info", str(tampered))
    assert_one_line_error(code, err, "image.onnx does not match the sha256")

    corrupt = shutil.copytree(tiny_bundle, tmp_path / "corrupt")
    (corrupt / "text.onnx").write_bytes(b"garbage, not an ONNX graph")
    data = json.loads((corrupt / MANIFEST_NAME).read_text())
    data["files"]["text.onnx"] = sha256_file(corrupt / "text.onnx")
    (corrupt / MANIFEST_NAME).write_text(json.dumps(data))
    # The first command that runs the text tower (here the benchmark) refuses it in one line.
    code, _, err = run_cli(
        capsys, "bench", "encode", "--bundle", str(corrupt), "--images", "2", "--cold-repeats", "0"
    )
    assert_one_line_error(code, err, "cannot load", "text.onnx")


def test_export_into_a_folder_of_photos_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "keep.jpg").write_bytes(b"x")
    code, _, err = run_cli(capsys, "export", "--model", "test-tiny", "--out", str(tmp_path))
    assert_one_line_error(code, err, "exists and is not a model bundle")
    assert (tmp_path / "keep.jpg").read_bytes() == b"x"


def test_errors_reach_the_shell_as_one_line_and_exit_code(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dclip_core", "models", "info", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("dclip: error: no model bundle at")
