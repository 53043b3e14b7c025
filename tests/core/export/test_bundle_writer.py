"""Writing bundles: checkpoints, first-use export, replacing, and never leaving a half bundle."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dclip_core.errors import DclipError, ExportError, UnknownModelError, WeightsError
from dclip_core.export import ensure_bundle, export_model
from dclip_core.export.reference_inputs import REFERENCE_TEXTS, reference_images, row_cosines
from dclip_core.models.clip import create_clip
from dclip_core.runtime.bundle import MANIFEST_NAME, load_manifest, sha256_file
from dclip_core.runtime.encoders import ClipEncoder


def leftovers(folder: Path) -> list[str]:
    """Hidden staging or backup folders an export may have left next to its target."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.slow
def test_checkpoint_export_carries_the_checkpoint_weights(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    model = create_clip("test-tiny")
    with torch.no_grad():
        # A "fine-tuned" model: different projections give clearly different embeddings.
        model.visual.proj.mul_(-1.0).add_(0.05)
        model.text_projection.add_(0.1)
    checkpoint = tmp_path / "my-finetune.pt"
    torch.save({"state_dict": model.state_dict()}, checkpoint)

    manifest = export_model("test-tiny", tmp_path / "out", checkpoint=checkpoint)

    assert manifest.name == "my-finetune"
    assert manifest.provenance["source"] == f"checkpoint:{checkpoint}"
    assert manifest.provenance["checkpoint_sha256"] == sha256_file(checkpoint)
    assert manifest.fingerprint != load_manifest(tiny_bundle).fingerprint
    encoder = ClipEncoder.load(manifest.path, provider="cpu")
    base = ClipEncoder.load(tiny_bundle, provider="cpu")
    texts = list(REFERENCE_TEXTS)
    with torch.no_grad():
        tokens = torch.from_numpy(encoder.tokenizer(texts))
        expected = model.encode_text(tokens, normalize=True).numpy()
    assert row_cosines(encoder.embed_texts(texts), expected).min() >= 0.9999
    images = reference_images(4)
    assert row_cosines(encoder.embed_images(images), base.embed_images(images)).max() < 0.99


def test_checkpoint_of_another_architecture_is_refused(tmp_path: Path) -> None:
    state = create_clip("test-tiny").state_dict()
    state["visual.proj"] = torch.zeros(3, 3)
    checkpoint = tmp_path / "wrong.pt"
    torch.save(state, checkpoint)
    with pytest.raises(WeightsError, match=r"wrong\.pt does not fit model 'test-tiny'"):
        export_model("test-tiny", tmp_path / "out", checkpoint=checkpoint)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(DclipError, match=r"garbage\.pt"):
        export_model("test-tiny", tmp_path / "out", checkpoint=garbage)
    with pytest.raises(ExportError, match="does not exist"):
        export_model("test-tiny", tmp_path / "out", checkpoint=tmp_path / "missing.pt")
    assert not (tmp_path / "out").exists()


def test_interrupted_export_leaves_nothing_that_looks_like_a_bundle(tmp_path: Path) -> None:
    def interrupt_midway(line: str) -> None:
        if line.startswith("checking"):  # both towers are written by now
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_model("test-tiny", tmp_path / "bundle", progress=interrupt_midway)
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_a_folder_that_is_not_a_bundle(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(ExportError, match="exists and is not a model bundle"):
        export_model("test-tiny", photos)
    assert [p.name for p in photos.iterdir()] == ["holiday.jpg"]
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_ensure_bundle_exports_once_and_reexport_replaces_in_place(dclip_home: Path) -> None:
    lines: list[str] = []
    path = ensure_bundle("test-tiny", progress=lines.append)
    assert path == dclip_home / "data" / "bundles" / "test-tiny"
    assert any("exporting the image tower" in line for line in lines)
    first = load_manifest(path)
    stamp = (path / MANIFEST_NAME).stat().st_mtime_ns

    lines.clear()
    assert ensure_bundle("test-tiny", progress=lines.append) == path
    assert lines == []  # already there: nothing exported
    assert (path / MANIFEST_NAME).stat().st_mtime_ns == stamp

    replaced = export_model("test-tiny", path, int8=True)
    assert replaced.path == path
    assert set(replaced.variants) == {"int8"}
    assert (path / "image.int8.onnx").is_file()
    # Same weights, same fp32 graph: the library keeps its embeddings across a re-export.
    assert replaced.fingerprint == first.fingerprint
    assert leftovers(path.parent) == []


def test_ensure_bundle_of_an_unknown_model_suggests_names() -> None:
    with pytest.raises(UnknownModelError, match="test-tiny"):
        ensure_bundle("test-tinyy")
