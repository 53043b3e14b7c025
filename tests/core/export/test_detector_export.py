"""The detector's ONNX export (NMS inside) returns the torch detector's boxes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from dclip_core.errors import BundleError
from dclip_core.export.detector_export import export_detector_onnx
from dclip_core.models.detector import create_detector
from dclip_core.runtime.detector import OnnxDetector


def photo_like(size: tuple[int, int]) -> Image.Image:
    image = Image.new("RGB", size, (230, 220, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle([15, 25, 110, 95], fill="red")
    draw.ellipse([100, 50, 190, 140], fill="navy")
    return image


@pytest.mark.slow
def test_onnx_detector_matches_torch_at_several_thresholds(tmp_path: Path) -> None:
    detector = create_detector("yolo-test-tiny", max_det=60)
    onnx_file = export_detector_onnx(detector, tmp_path / "explain" / "detector.onnx")
    exported = OnnxDetector(onnx_file)
    assert exported.imgsz == detector.imgsz
    assert exported.class_names == detector.class_names
    assert exported.conf == pytest.approx(0.25)

    for size in ((200, 150), (120, 180)):
        image = photo_like(size)
        for conf in (0.25, 0.5, 0.7):
            detector.conf = exported.conf = conf
            torch_boxes, onnx_boxes = detector.detect(image), exported.detect(image)
            assert torch_boxes, f"no boxes at conf {conf}: the parity check would be empty"
            assert [b.label for b in onnx_boxes] == [b.label for b in torch_boxes]
            for a, b in zip(onnx_boxes, torch_boxes, strict=True):
                assert a[:4] == pytest.approx(b[:4], abs=0.05)  # pixels
                assert a.conf == pytest.approx(b.conf, abs=1e-4)


def test_a_file_that_is_not_a_detector_export_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "detector.onnx"
    bogus.write_bytes(b"not onnx")
    with pytest.raises(BundleError, match="not a DCLIP detector export"):
        OnnxDetector(bogus)
