"""The ONNX explain path gives the torch teacher's attention on the same photo and query.

End to end: the torch side builds its inputs the way training does — regions from the training
region cache (torch YOLO, open_clip crop transform and encoder; the whole photo as a ground-truth
box first), spans from the frozen text encoder — and runs the torch teacher. The explain runtime
does it all through ONNX Runtime. Their maps agree to 1e-4.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dclip_core.explain import Explainer
from dclip_core.models.clip import create_clip
from dclip_core.models.teacher import load_teacher
from dclip_core.models.text_features import FrozenTextEncoder
from dclip_core.runtime.detector import OnnxDetector
from dclip_core.runtime.tokenizer import ClipTokenizer
from dclip_core.train.datasets import BoxLabel
from dclip_core.train.regions import RegionCache
from dclip_core.train.teacher_trainer import pad_regions

MAX_REGIONS = 8


@pytest.mark.parametrize(
    ("query", "span_mode"),
    [("a small red circle left of a large blue star", None), ("a cup of coffee", "phrases")],
)
def test_onnx_attention_equals_the_torch_teacher(
    explain_bundle: Path, scene_photo: Path, tmp_path: Path, query: str, span_mode: str | None
) -> None:
    explainer = Explainer.load(explain_bundle, provider="cpu", max_regions=MAX_REGIONS)
    onnx = explainer.explain(scene_photo, query, method="teacher", span_mode=span_mode)  # type: ignore[arg-type]
    assert len(onnx.regions) > 2, "the test needs detections to compare"

    # --- the torch path, as training builds the teacher's inputs
    manifest = json.loads((explain_bundle / "bundle.json").read_text())["explain"]
    detector = OnnxDetector(explain_bundle / manifest["detector"]["file"])
    base = create_clip("test-tiny").eval()
    cache = RegionCache(
        "test-tiny",
        "yolo-test-tiny",
        source="yolo+gt",
        conf=detector.conf,
        max_regions=MAX_REGIONS,
        clip_model=base,
        cache_dir=tmp_path / "regions",
    )
    width, height = onnx.image_size
    regions = cache.get(scene_photo, [BoxLabel(0, 0, width, height, "photo")])
    np.testing.assert_allclose(
        regions.boxes, np.array([r.box for r in onnx.regions], dtype=np.float32), atol=1e-3
    )
    tokenizer = ClipTokenizer(ClipTokenizer.default_vocab_path(), 77)
    text = FrozenTextEncoder(base, tokenizer, onnx.span_mode).encode([onnx.model_text])  # type: ignore[arg-type]
    assert [(s.start, s.end) for s in text.span_lists[0]] == [s.tokens for s in onnx.spans]
    region_batch, region_mask = pad_regions([regions.embeddings], torch.device("cpu"))
    teacher = load_teacher(explain_bundle.parent / "teacher.safetensors").teacher
    with torch.no_grad():
        out = teacher(text.spans, text.span_mask, region_batch, region_mask)

    np.testing.assert_allclose(onnx.text_to_region, out.text_to_region[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(onnx.region_to_text, out.region_to_text[0].numpy(), atol=1e-4)
