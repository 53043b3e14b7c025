"""The YOLO detector: random-init test spec, thresholds, weights cache, and staying offline."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from dclip_core.config.paths import get_paths
from dclip_core.errors import DownloadError, UnknownModelError, WeightsMissingError
from dclip_core.models.detector import (
    DetectorSpec,
    DetectorWeights,
    YoloDetector,
    create_detector,
    get_detector_spec,
    import_ultralytics,
    register_detector,
)
from dclip_core.runtime.detector import letterbox
from tests.helpers.local_http import Route, serve_files

REPO = Path(__file__).resolve().parents[3]


def shapes_image(size: tuple[int, int] = (200, 150)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([20, 20, 100, 90], fill="red")
    draw.ellipse([120, 60, 190, 140], fill="blue")
    return image


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[YoloDetector]:
    """One test detector for the module (building it costs a second or two)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DCLIP_HOME", str(tmp_path_factory.mktemp("detector-home")))
        yield create_detector("yolo-test-tiny", max_det=100)


def test_test_detector_finds_varied_boxes_inside_the_image(tiny: YoloDetector) -> None:
    tiny.conf = 0.25
    boxes = tiny.detect(shapes_image())
    assert 1 < len(boxes) <= 100
    for box in boxes:
        assert 0 <= box.x1 <= box.x2 <= 200
        assert 0 <= box.y1 <= box.y2 <= 150
        assert box.conf > 0.25
        assert box.label.startswith("class")
    assert len({round(b.x2 - b.x1) for b in boxes}) > 1
    assert [b.conf for b in boxes] == sorted((b.conf for b in boxes), reverse=True)


def test_higher_conf_keeps_a_prefix_of_the_boxes(tiny: YoloDetector) -> None:
    image = shapes_image()
    tiny.conf = 0.25
    low = tiny.detect(image)
    tiny.conf = 0.6
    high = tiny.detect(image)
    tiny.conf = 0.25
    assert 0 < len(high) < len(low)
    assert high == low[: len(high)]


def test_batch_detection_equals_one_by_one(tiny: YoloDetector) -> None:
    images = [shapes_image(), shapes_image((90, 160)).rotate(90, expand=True)]
    batched = tiny.detect_many(images)
    for image, boxes in zip(images, batched, strict=True):
        single = tiny.detect(image)
        assert len(single) == len(boxes)
        for a, b in zip(single, boxes, strict=True):
            assert a.label == b.label
            assert a[:5] == pytest.approx(b[:5], abs=1e-3)


def test_random_init_is_reproducible_and_max_det_applies(tiny: YoloDetector) -> None:
    other = create_detector("yolo-test-tiny", max_det=3)
    image = shapes_image()
    boxes = other.detect(image)
    assert len(boxes) == 3
    tiny.conf = 0.25
    assert boxes == tiny.detect(image)[:3]


def test_letterbox_keeps_aspect_and_centres() -> None:
    array, fit = letterbox(Image.new("RGB", (200, 100), "black"), 160)
    assert array.shape == (3, 160, 160)
    assert fit.scale == pytest.approx(0.8)
    assert (fit.pad_x, fit.pad_y) == (0, 40)
    assert array[0, 0, 0] == pytest.approx(114 / 255)  # grey padding above the image
    assert array[0, 80, 80] == 0.0


def test_registry_has_paper_and_light_detectors_and_names_the_known_ones() -> None:
    assert get_detector_spec("yolov8x").weights.filename == "yolov8x.pt"  # type: ignore[union-attr]
    assert (
        get_detector_spec("yolov8n")
        .weights.urls[0]
        .startswith(  # type: ignore[union-attr]
            "https://github.com/ultralytics/assets/releases/download/"
        )
    )
    with pytest.raises(UnknownModelError, match="yolov8n, yolov8x"):
        get_detector_spec("yolov9")


@pytest.fixture
def saved_weights(tmp_path: Path) -> bytes:
    """A real ultralytics checkpoint file (random init), as the assets release ships them."""
    import_ultralytics()
    from ultralytics import YOLO

    path = tmp_path / "tiny.pt"
    YOLO("yolov8n.yaml", task="detect", verbose=False).save(path)
    return path.read_bytes()


def cached_spec(name: str) -> DetectorSpec:
    return register_detector(
        DetectorSpec(
            name=name,
            description="test weights",
            architecture="yolov8n.yaml",
            weights=DetectorWeights(f"{name}.pt", (f"https://example.invalid/x/{name}.pt",)),
            imgsz=96,
        ),
        replace=True,
    )


def test_missing_weights_say_where_to_put_them() -> None:
    cached_spec("offline-yolo")
    with pytest.raises(WeightsMissingError, match=r"offline-yolo\.pt.*weights"):
        create_detector("offline-yolo", download=False)


def test_weights_download_is_pinned_on_first_use_and_tampering_refused(
    saved_weights: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached_spec("tofu-yolo")
    with serve_files() as server:
        server.add("tofu-yolo.pt", Route(body=saved_weights))
        monkeypatch.setenv("DCLIP_WEIGHTS_MIRROR", server.base_url)
        detector = create_detector("tofu-yolo", conf=0.0)
        assert server.requests_for("tofu-yolo.pt") == 1
        create_detector("tofu-yolo")  # cached now: no second request
        assert server.requests_for("tofu-yolo.pt") == 1
    weights = get_paths().weights_dir / "tofu-yolo.pt"
    assert (weights.parent / "tofu-yolo.pt.sha256").is_file()
    assert detector.class_names[0] == "0"
    assert detector.detect(shapes_image())  # conf 0 keeps boxes even for random weights

    weights.write_bytes(saved_weights[:-10] + b"0123456789")
    with pytest.raises(DownloadError, match="does not match its sha256"):
        create_detector("tofu-yolo")


OFFLINE_SCRIPT = """
import socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network disabled by the test")
socket.getaddrinfo = refuse
socket.create_connection = refuse
socket.socket.connect = lambda self, *args: refuse(*args)
from PIL import Image, ImageDraw
from dclip_core.models.detector import create_detector
from dclip_core.export.detector_export import export_detector_onnx
detector = create_detector("yolo-test-tiny")
image = Image.new("RGB", (120, 90), "white")
ImageDraw.Draw(image).rectangle([10, 10, 60, 50], fill="red")
print("boxes", len(detector.detect(image)))
export_detector_onnx(detector, sys.argv[1])
print("network attempts", len(attempts), attempts)
"""


@pytest.mark.slow
def test_detector_and_export_stay_offline_and_inside_dclip_home(tmp_path: Path) -> None:
    """In a fresh process (ultralytics reads its settings at import): no socket use at all, and
    nothing written to the working directory or the user's home."""
    home, cwd, user = tmp_path / "dclip-home", tmp_path / "cwd", tmp_path / "user-home"
    for folder in (cwd, user):
        folder.mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "XDG_", "ULTRALYTICS"))
    }
    env.update(DCLIP_HOME=str(home), HOME=str(user), PYTHONPATH=str(REPO))
    out = tmp_path / "detector.onnx"
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT, str(out)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "network attempts 0 []" in result.stdout
    assert out.is_file()
    assert list(cwd.iterdir()) == []
    assert list(user.iterdir()) == []
    assert (home / "config" / "ultralytics" / "Ultralytics" / "settings.json").is_file()


def test_ultralytics_import_leaves_pil_and_torch_save_alone(tiny: YoloDetector) -> None:
    """Its Image.open patch would pip-install a HEIF plugin on any unreadable image."""
    import torch
    from PIL import UnidentifiedImageError

    assert Image.open.__module__ == "PIL.Image"
    assert torch.save.__module__ == "torch.serialization"
    with pytest.raises(UnidentifiedImageError):
        Image.open(REPO / "pyproject.toml")
