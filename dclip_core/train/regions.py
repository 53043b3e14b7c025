"""Image regions for the DCLIP teacher: detected (or user-drawn) boxes and their crop embeddings.

Each crop is embedded by the *frozen* base CLIP image encoder with its standard inference
preprocessing (open_clip's transform) and L2-normalised. An image with no box gets one placeholder
region: a zero embedding, as in the paper's code.

Everything is cached on disk, one ``.npz`` per image under
``<cache>/regions/<detector>/<base model>/``, keyed by the image *content* (sha256), the detector
and its thresholds, the region source and the ground-truth boxes, and the base model — so a moved
photo keeps its entry, an edited one gets a new one, and epochs 2..n never run YOLO or the crop
encoder again. A cache entry that fails to load or check is recomputed, never trusted, never fatal.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from PIL import Image

from dclip_core.config.paths import atomic_write_bytes, get_paths
from dclip_core.errors import DatasetError, ImageDecodeError
from dclip_core.models.detector import YoloDetector, create_detector
from dclip_core.models.registry import ModelSpec, get_model_spec
from dclip_core.runtime.detector import Box
from dclip_core.runtime.images import load_image
from dclip_core.train.datasets import BoxLabel, CaptionedImage

if TYPE_CHECKING:
    import open_clip

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
RegionSourceKind = Literal["yolo", "gt", "yolo+gt"]


@dataclass(frozen=True)
class Regions:
    """The regions of one image.

    Attributes:
        boxes: ``[N, 4]`` float32 (x1, y1, x2, y2) in pixels of the EXIF-rotated image.
        embeddings: ``[N, D]`` float32, L2-normalised crop embeddings (zeros for a placeholder).
        scores: ``[N]`` detector confidence; 1 for ground-truth boxes, 0 for the placeholder.
        labels: class name or user label of each box.
        placeholder: True when nothing was detected and the single region is the zero placeholder.
    """

    boxes: np.ndarray
    embeddings: torch.Tensor
    scores: np.ndarray
    labels: tuple[str, ...]
    placeholder: bool

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


@dataclass
class CacheStats:
    """What a :class:`RegionCache` did: entries read, computed, and corrupt ones recomputed."""

    hits: int = 0
    computed: int = 0
    repaired: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)


def load_rgb(path: Path) -> Image.Image:
    """Open an image as RGB, upright, with the library's decoder (first frame of animations).

    Raises:
        DatasetError: the file is missing or not a decodable image.
    """
    try:
        return load_image(path).convert("RGB")
    except ImageDecodeError as exc:
        raise DatasetError(f"{exc}; fix or remove it from the dataset") from exc


def clip_image_transform(spec: ModelSpec) -> Callable[[Image.Image], torch.Tensor]:
    """The base model's standard inference preprocessing (open_clip ``image_transform``)."""
    from open_clip.transform import image_transform

    pre = spec.preprocess
    return image_transform(
        pre.size,
        is_train=False,
        mean=pre.mean,
        std=pre.std,
        resize_mode=pre.resize_mode,
        interpolation=pre.interpolation,
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class RegionCache:
    """Boxes and crop embeddings per image, computed once and read back from disk afterwards.

    Args:
        base_model: the frozen CLIP whose image encoder embeds crops (registry name or spec).
        detector: a registered detector name, or ``"gt"`` to use only ground-truth boxes.
        source: ``yolo`` (detections only), ``gt`` (the record's boxes only) or ``yolo+gt``
            (ground-truth boxes first, then detections). Defaults to ``gt`` when
            ``detector == "gt"``, else ``yolo``.
        conf: detector score threshold (paper: 0.25).
        iou: detector NMS IoU threshold.
        max_regions: most regions per image (ground-truth boxes are kept first).
        clip_model: an already loaded base CLIP to share (else built on first need).
        cache_dir: root of the cache (default ``<cache>/regions``).
        device: where the detector and crop encoder run.
        batch_size: crops per encoder call.
    """

    def __init__(
        self,
        base_model: str | ModelSpec,
        detector: str = "yolov8n",
        *,
        source: RegionSourceKind | None = None,
        conf: float = 0.25,
        iou: float = 0.7,
        max_regions: int = 300,
        clip_model: open_clip.CLIP | None = None,
        cache_dir: Path | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
    ) -> None:
        self.spec = get_model_spec(base_model) if isinstance(base_model, str) else base_model
        self.detector_name = detector
        self.source: RegionSourceKind = source or ("gt" if detector == "gt" else "yolo")
        if self.source != "gt" and detector == "gt":
            raise ValueError(f"region source {self.source!r} needs a detector, not 'gt'")
        self.conf, self.iou, self.max_regions = conf, iou, max_regions
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.root = (cache_dir or get_paths().cache_dir / "regions") / detector / self.spec.name
        self.stats = CacheStats()
        self._clip = clip_model
        self._detector: YoloDetector | None = None
        self._transform: Callable[[Image.Image], torch.Tensor] | None = None
        self._hashes: dict[tuple[str, int, int], str] = {}

    # --- keys and files

    def _content_hash(self, path: Path) -> str:
        stat = path.stat()
        memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if memo not in self._hashes:
            self._hashes[memo] = _file_sha256(path)
        return self._hashes[memo]

    def key(self, image_path: Path, gt_boxes: Sequence[BoxLabel] | None = None) -> str:
        """The cache key of an image's regions under this cache's settings."""
        weights = self.spec.weights.sha256 if self.spec.weights else f"seed{self.spec.seed}"
        parts: dict[str, Any] = {
            "format": CACHE_FORMAT,
            "image": self._content_hash(Path(image_path)),
            "model": [self.spec.name, weights],
            "source": self.source,
        }
        if self.source != "gt":
            parts["detector"] = [self.detector_name, self.conf, self.iou]
        if self.source != "yolo":
            parts["gt"] = [list(b) for b in gt_boxes or []]
        parts["max_regions"] = self.max_regions
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def entry_path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def _read(self, key: str) -> Regions | None:
        path = self.entry_path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                stored_key = str(data["key"])
                boxes = data["boxes"].astype(np.float32)
                embeddings = data["embeddings"].astype(np.float32)
                scores = data["scores"].astype(np.float32)
                labels = tuple(str(x) for x in data["labels"])
                placeholder = bool(data["placeholder"])
            n = boxes.shape[0]
            if (
                stored_key != key
                or n < 1
                or boxes.shape != (n, 4)
                or embeddings.shape != (n, self.spec.embed_dim)
                or scores.shape != (n,)
                or len(labels) != n
                or not (np.isfinite(boxes).all() and np.isfinite(embeddings).all())
            ):
                raise ValueError("contents do not match the entry's key or shapes")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("region cache entry %s is corrupt (%s); recomputing it", path, exc)
            self.stats.repaired += 1
            return None
        return Regions(boxes, torch.from_numpy(embeddings), scores, labels, placeholder)

    def _write(self, key: str, regions: Regions) -> None:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            key=np.array(key),
            boxes=regions.boxes.astype(np.float32),
            embeddings=regions.embeddings.numpy().astype(np.float32),
            scores=regions.scores.astype(np.float32),
            labels=np.array(regions.labels, dtype=str),
            placeholder=np.array(regions.placeholder),
        )
        atomic_write_bytes(self.entry_path(key), buffer.getvalue())

    # --- computing

    def _clip_model(self) -> open_clip.CLIP:
        if self._clip is None:
            from dclip_core.models.clip import create_clip

            self._clip = create_clip(self.spec)
        self._clip = self._clip.to(self.device).eval()
        return self._clip

    def _detector_model(self) -> YoloDetector:
        if self._detector is None:
            self._detector = create_detector(
                self.detector_name, conf=self.conf, iou=self.iou, max_det=self.max_regions
            )
            self._detector.module.to(self.device)
        return self._detector

    @property
    def models_loaded(self) -> bool:
        """Whether the detector or the crop encoder had to be built (a warm cache never does)."""
        return self._detector is not None or self._transform is not None

    def _boxes(
        self, image: Image.Image, gt_boxes: Sequence[BoxLabel] | None, detected: list[Box]
    ) -> list[Box]:
        boxes: list[Box] = []
        if self.source != "yolo":
            boxes += [Box(b.x1, b.y1, b.x2, b.y2, 1.0, b.label) for b in gt_boxes or []]
        if self.source != "gt":
            boxes += sorted(detected, key=lambda b: -b.conf)
        width, height = image.size
        kept = []
        for b in boxes[: self.max_regions]:
            x1, x2 = sorted((min(max(b.x1, 0.0), width), min(max(b.x2, 0.0), width)))
            y1, y2 = sorted((min(max(b.y1, 0.0), height), min(max(b.y2, 0.0), height)))
            kept.append(Box(x1, y1, x2, y2, b.conf, b.label))
        return kept

    def _embed_crops(self, crops: list[Image.Image]) -> torch.Tensor:
        if self._transform is None:
            self._transform = clip_image_transform(self.spec)
        model = self._clip_model()
        out = []
        with torch.inference_mode():
            for start in range(0, len(crops), self.batch_size):
                chunk = crops[start : start + self.batch_size]
                pixels = torch.stack([self._transform(c) for c in chunk]).to(self.device)
                features = model.encode_image(pixels).float()
                out.append(torch.nn.functional.normalize(features, dim=-1).cpu())
        return torch.cat(out) if out else torch.zeros(0, self.spec.embed_dim)

    def _compute(
        self, items: Sequence[tuple[Path, Sequence[BoxLabel] | None]]
    ) -> list[Regions | Exception]:
        """Regions of several images: one detector call and batched crop encoding."""
        images: list[Image.Image | Exception] = []
        for path, _ in items:
            try:
                images.append(load_rgb(path))
            except DatasetError as exc:
                images.append(exc)
        decoded = [im for im in images if isinstance(im, Image.Image)]
        detections = (
            iter(self._detector_model().detect_many(decoded))
            if self.source != "gt" and decoded
            else None
        )
        per_image: list[list[Box] | Exception] = []
        crops: list[Image.Image] = []
        for (_, gt), image in zip(items, images, strict=True):
            if isinstance(image, Exception):
                per_image.append(image)
                continue
            boxes = self._boxes(image, gt, next(detections) if detections else [])
            per_image.append(boxes)
            for b in boxes:
                # at least one pixel, so a degenerate box still yields a crop
                x1, y1 = int(b.x1), int(b.y1)
                crops.append(
                    image.crop((x1, y1, max(int(b.x2 + 0.5), x1 + 1), max(int(b.y2 + 0.5), y1 + 1)))
                )
        embeddings = self._embed_crops(crops) if crops else torch.zeros(0, self.spec.embed_dim)
        results: list[Regions | Exception] = []
        offset = 0
        for entry, image in zip(per_image, images, strict=True):
            if isinstance(entry, Exception) or isinstance(image, Exception):
                results.append(entry if isinstance(entry, Exception) else image)  # type: ignore[arg-type]
                continue
            if not entry:
                width, height = image.size
                results.append(
                    Regions(
                        np.array([[0, 0, width, height]], dtype=np.float32),
                        torch.zeros(1, self.spec.embed_dim),
                        np.zeros(1, dtype=np.float32),
                        ("",),
                        placeholder=True,
                    )
                )
                continue
            n = len(entry)
            results.append(
                Regions(
                    np.array([b[:4] for b in entry], dtype=np.float32),
                    embeddings[offset : offset + n].clone(),
                    np.array([b.conf for b in entry], dtype=np.float32),
                    tuple(b.label for b in entry),
                    placeholder=False,
                )
            )
            offset += n
        return results

    # --- public API

    def get(self, image_path: Path, gt_boxes: Sequence[BoxLabel] | None = None) -> Regions:
        """The regions of one image: from the cache, else computed and cached.

        Raises:
            DatasetError: the image cannot be decoded.
        """
        key = self.key(Path(image_path), gt_boxes)
        cached = self._read(key)
        if cached is not None:
            self.stats.hits += 1
            return cached
        result = self._compute([(Path(image_path), gt_boxes)])[0]
        if isinstance(result, Exception):
            raise result
        self._write(key, result)
        self.stats.computed += 1
        return result

    def prepare(
        self,
        records: Iterable[CaptionedImage],
        progress: Callable[[int, int], None] | None = None,
        *,
        images_per_call: int = 16,
    ) -> CacheStats:
        """Fill the cache for every record up front (before epoch 1), batching the models.

        Undecodable images are listed in ``stats.failed`` (path, reason) and skipped, so one
        broken file does not stop preparation.

        Args:
            records: the training images (their ``boxes`` are the ground truth).
            progress: called as ``progress(done, total)`` after each group of images.
            images_per_call: images per detector call.
        """
        items = list(records)
        missing: list[tuple[str, CaptionedImage]] = []
        for record in items:
            try:
                key = self.key(record.path, record.boxes)
            except OSError as exc:
                self.stats.failed.append((record.path, str(exc)))
                continue
            if self._read(key) is None:
                missing.append((key, record))
            else:
                self.stats.hits += 1
        done = len(items) - len(missing)
        if progress:
            progress(done, len(items))
        for start in range(0, len(missing), images_per_call):
            group = missing[start : start + images_per_call]
            results = self._compute([(r.path, r.boxes) for _, r in group])
            for (key, record), result in zip(group, results, strict=True):
                if isinstance(result, Exception):
                    self.stats.failed.append((record.path, str(result)))
                else:
                    self._write(key, result)
                    self.stats.computed += 1
            done += len(group)
            if progress:
                progress(done, len(items))
        return self.stats
