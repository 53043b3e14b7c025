"""The teacher's ONNX export (explain/) matches torch, attention maps included; student bundles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from dclip_core.errors import BundleError
from dclip_core.export.explain import TEACHER_OUTPUTS, export_teacher_onnx
from dclip_core.export.student_bundle import export_student_bundle
from dclip_core.models.clip import create_clip
from dclip_core.models.teacher import CrossModalTeacher, save_teacher
from dclip_core.runtime.bundle import load_manifest
from dclip_core.runtime.encoders import ClipEncoder
from dclip_core.train.distill import save_student


def _inputs(batch: int, n_text: int, n_regions: int, dim: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    span_mask = np.ones((batch, n_text), dtype=bool)
    region_mask = np.ones((batch, n_regions), dtype=bool)
    span_mask[0, n_text // 2 :] = False  # padding on both sides, in one sample only
    region_mask[-1, 1:] = False
    return {
        "spans": rng.normal(size=(batch, n_text, dim)).astype(np.float32),
        "span_mask": span_mask,
        "regions": rng.normal(size=(batch, n_regions, dim)).astype(np.float32),
        "region_mask": region_mask,
    }


@pytest.mark.parametrize(("layers", "ffn", "paper_compat"), [(1, False, False), (2, True, True)])
def test_teacher_onnx_matches_torch_at_other_sizes(
    tmp_path: Path, layers: int, ffn: bool, paper_compat: bool
) -> None:
    torch.manual_seed(0)
    teacher = CrossModalTeacher(32, heads=4, layers=layers, ffn=ffn, paper_compat=paper_compat)
    path = tmp_path / "teacher.onnx"
    export_teacher_onnx(teacher.eval(), path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # sizes other than the tracing example's (2 x 5 spans x 3 regions)
    for batch, n_text, n_regions in [(3, 7, 4), (1, 2, 9)]:
        feed = _inputs(batch, n_text, n_regions, 32, seed=batch)
        onnx_out = dict(zip(TEACHER_OUTPUTS, session.run(TEACHER_OUTPUTS, feed), strict=True))
        with torch.no_grad():
            ref = teacher(*(torch.from_numpy(feed[k]) for k in feed))
        np.testing.assert_allclose(onnx_out["global_embedding"], ref.global_embedding, atol=1e-5)
        np.testing.assert_allclose(onnx_out["text_to_region"], ref.text_to_region, atol=1e-5)
        np.testing.assert_allclose(onnx_out["region_to_text"], ref.region_to_text, atol=1e-5)
        assert onnx_out["text_to_region"].shape == (batch, layers, 4, n_text, n_regions)


@pytest.fixture(scope="module")
def student_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A student (base weights nudged, as training would) exported with a teacher's explain/."""
    folder = tmp_path_factory.mktemp("student")
    student = create_clip("test-tiny")
    with torch.no_grad():
        student.visual.proj.add_(0.5 * torch.randn_like(student.visual.proj))
    save_student(folder / "student.safetensors", student, model="test-tiny", extra={"steps": 3})
    torch.manual_seed(1)
    save_teacher(folder / "teacher.safetensors", CrossModalTeacher(32), base_model="test-tiny")
    target = folder / "bundle"
    export_student_bundle(
        folder / "student.safetensors",
        target,
        teacher_path=folder / "teacher.safetensors",
    )
    return target, folder


def test_student_bundle_has_explain_with_the_base_encoders(
    student_bundle: tuple[Path, Path],
) -> None:
    target, _ = student_bundle
    manifest = load_manifest(target)
    assert manifest.kind == "dclip-student"
    explain = manifest.explain
    assert explain is not None
    assert explain["teacher"] == "explain/teacher.onnx"
    assert explain["crop_encoder"] == "explain/image.onnx"
    assert explain["teacher_config"]["heads"] == 8
    assert {
        "explain/teacher.onnx",
        "explain/image.onnx",
        "explain/text.onnx",
    } <= set(manifest.files)
    assert explain["detector"] is None
    assert manifest.provenance["teacher"] is None
    # the student's own towers answer searches; the explain encoders are the frozen base ones
    student = ClipEncoder.load(target, provider="cpu")
    base = create_clip("test-tiny")
    pixels = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    crop_session = ort.InferenceSession(
        str(target / explain["crop_encoder"]), providers=["CPUExecutionProvider"]
    )
    (crops,) = crop_session.run(["embeddings"], {"pixels": pixels})
    with torch.no_grad():
        expected = base.encode_image(torch.from_numpy(pixels), normalize=True).numpy()
    np.testing.assert_allclose(crops, expected, atol=1e-5)
    assert not np.allclose(student.embed_pixels(pixels), expected, atol=1e-3)


def test_tampered_explain_file_is_refused(student_bundle: tuple[Path, Path]) -> None:
    target, _ = student_bundle
    teacher_file = target / "explain" / "teacher.onnx"
    original = teacher_file.read_bytes()
    try:
        teacher_file.write_bytes(original[:-10])
        with pytest.raises(BundleError, match=r"teacher\.onnx"):
            load_manifest(target)
    finally:
        teacher_file.write_bytes(original)
    explain = json.loads((target / "bundle.json").read_text())["explain"]
    # a teacher saved before span features and grounding existed: the paper's values
    assert (explain["span_mode"], explain["span_features"], explain["grounding"]) == (
        "tokens",
        "token-states",
        "none",
    )
    assert explain["teacher_steps"] is None  # saved without a step count: not recorded


def test_the_teachers_training_steps_are_recorded(
    student_bundle: tuple[Path, Path], tmp_path: Path
) -> None:
    _, folder = student_bundle
    torch.manual_seed(2)
    trained = tmp_path / "teacher.safetensors"
    save_teacher(trained, CrossModalTeacher(32), base_model="test-tiny", extra={"steps": 300})
    target = tmp_path / "bundle"
    export_student_bundle(folder / "student.safetensors", target, teacher_path=trained)
    assert json.loads((target / "bundle.json").read_text())["explain"]["teacher_steps"] == 300


def test_sentence_span_features_are_the_span_texts_through_the_exported_text_tower(
    tmp_path: Path,
) -> None:
    """The ONNX contract of a ``span_features="sentence"`` teacher: each span's text through
    ``explain/text.onnx`` (``embeddings``) is what training fed the teacher, and the teacher's
    ONNX graph gives torch's attention on it."""
    from dclip_core.models.text_features import FrozenTextEncoder
    from dclip_core.runtime.tokenizer import ClipTokenizer

    student = create_clip("test-tiny")
    save_student(tmp_path / "student.safetensors", student, model="test-tiny", extra={})
    torch.manual_seed(2)
    teacher = CrossModalTeacher(32, heads=4).eval()
    extra = {"span_mode": "phrases", "span_features": "sentence", "grounding": "contrastive"}
    save_teacher(tmp_path / "teacher.safetensors", teacher, base_model="test-tiny", extra=extra)
    target = tmp_path / "bundle"
    export_student_bundle(
        tmp_path / "student.safetensors", target, teacher_path=tmp_path / "teacher.safetensors"
    )
    explain = load_manifest(target).explain
    assert explain is not None
    assert (explain["span_mode"], explain["span_features"], explain["grounding"]) == (
        "phrases",
        "sentence",
        "contrastive",
    )

    caption = "a small red circle left of a large blue star"
    tokenizer = ClipTokenizer(ClipTokenizer.default_vocab_path(), 77)
    torch_text = FrozenTextEncoder(create_clip("test-tiny"), tokenizer, "phrases", "sentence")
    features = torch_text.encode([caption])
    span_texts = [span.text for span in features.span_lists[0]]
    text_session = ort.InferenceSession(
        str(target / explain["span_encoder"]), providers=["CPUExecutionProvider"]
    )
    (onnx_spans,) = text_session.run(["embeddings"], {"input_ids": tokenizer(span_texts)})
    np.testing.assert_allclose(onnx_spans, features.spans[0].numpy(), atol=1e-5)

    regions = np.random.default_rng(0).normal(size=(1, 3, 32)).astype(np.float32)
    feed = {
        "spans": onnx_spans[None].astype(np.float32),
        "span_mask": np.ones((1, len(span_texts)), dtype=bool),
        "regions": regions,
        "region_mask": np.ones((1, 3), dtype=bool),
    }
    teacher_session = ort.InferenceSession(
        str(target / explain["teacher"]), providers=["CPUExecutionProvider"]
    )
    onnx_out = dict(zip(TEACHER_OUTPUTS, teacher_session.run(TEACHER_OUTPUTS, feed), strict=True))
    with torch.no_grad():
        region_mask = torch.from_numpy(feed["region_mask"])
        ref = teacher(features.spans, features.span_mask, torch.from_numpy(regions), region_mask)
    np.testing.assert_allclose(onnx_out["text_to_region"], ref.text_to_region, atol=1e-5)
