"""The models of one bundle that explanations run, opened on first use (ONNX Runtime, no torch).

- ``encoder``: the bundle's own image and text towers (what search uses; the ``similarity``
  method);
- ``base_encoder``: ``explain/``'s frozen base encoders, the ones the teacher was trained on:
  crops through ``crop_encoder`` with ``crop_preprocess``, per-token states through
  ``span_encoder`` (the bundle's own towers when the bundle *is* the base model);
- ``teacher``: ``explain/teacher.onnx``; ``detector``: ``explain/detector.onnx`` when exported.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import numpy as np
import onnxruntime as ort

from dclip_core.explain.errors import ExplainError
from dclip_core.runtime.bundle import BundleManifest, ImageTower, TextTower
from dclip_core.runtime.detector import OnnxDetector
from dclip_core.runtime.encoders import ClipEncoder
from dclip_core.runtime.preprocess import ImagePreprocess
from dclip_core.runtime.session import ProviderChoice, create_session
from dclip_core.runtime.spans import SPAN_MODES, SpanMode


class BundleModels:
    """Lazily opened sessions of one verified bundle.

    Args:
        encoder: the bundle's :class:`ClipEncoder` (its manifest is the bundle's).
        choice: the execution provider for the explain sessions.
        threads: intra-op CPU threads (0: ONNX Runtime's default).
    """

    def __init__(self, encoder: ClipEncoder, choice: ProviderChoice, threads: int) -> None:
        self.encoder = encoder
        self.manifest: BundleManifest = encoder.manifest
        self.choice = choice
        self.threads = threads
        self._lock = threading.Lock()
        self._base: ClipEncoder | None = None
        self._teacher: ort.InferenceSession | None = None
        self._detector: OnnxDetector | None = None

    # --- what the bundle has

    @property
    def explain(self) -> dict[str, Any] | None:
        return self.manifest.explain

    @property
    def has_teacher(self) -> bool:
        return bool(self.explain and self.explain.get("teacher"))

    @property
    def has_detector(self) -> bool:
        return bool(self.explain and self.explain.get("detector"))

    @property
    def teacher_span_mode(self) -> SpanMode:
        mode = (self.explain or {}).get("span_mode", "tokens")
        return mode if mode in SPAN_MODES else "tokens"

    @property
    def teacher_steps(self) -> int | None:
        """Training steps of the teacher, when the bundle records them (``teacher_steps``)."""
        steps = (self.explain or {}).get("teacher_steps")
        return int(steps) if isinstance(steps, int | float) else None

    @property
    def detector_name(self) -> str | None:
        entry = (self.explain or {}).get("detector") or {}
        return str(entry["name"]) if "name" in entry else None

    def require_explain(self) -> dict[str, Any]:
        """The ``explain`` entry, or a one-line error saying how to get one."""
        if not self.has_teacher or self.explain is None:
            raise ExplainError(
                f"bundle {self.manifest.name!r} has no explain/ part (no teacher); use "
                "--method similarity, or distil with `dclip distill --bundle` to export one"
            )
        return self.explain

    # --- sessions

    def base_encoder(self) -> ClipEncoder:
        """The frozen base encoders of ``explain/`` as a :class:`ClipEncoder`."""
        explain = self.require_explain()
        with self._lock:
            if self._base is None:
                self._base = self._open_base(explain)
            return self._base

    def _open_base(self, explain: dict[str, Any]) -> ClipEncoder:
        manifest = self.manifest
        crop_file, span_file = str(explain["crop_encoder"]), str(explain["span_encoder"])
        pre = explain.get("crop_preprocess") or manifest.image.preprocess.to_json()
        preprocess = ImagePreprocess(
            size=int(pre["size"]),
            mean=tuple(pre["mean"]),
            std=tuple(pre["std"]),
            resize_mode=pre["resize_mode"],
            interpolation=pre["interpolation"],
        )
        if (crop_file, span_file) == (manifest.image.file, manifest.text.file) and (
            preprocess == manifest.image.preprocess
        ):
            return self.encoder
        missing = [f for f in (crop_file, span_file) if f not in manifest.files]
        if missing:
            raise ExplainError(
                f"bundle {manifest.path} names {', '.join(missing)} in explain/ without a sha256; "
                "export explain/ again"
            )
        base_manifest = dataclasses.replace(
            manifest,
            image=ImageTower(file=crop_file, preprocess=preprocess),
            text=TextTower(
                file=span_file,
                context_length=manifest.text.context_length,
                tokenizer=manifest.text.tokenizer,
                query_template=manifest.text.query_template,
            ),
            variants={},
        )
        return ClipEncoder(
            base_manifest,
            self.choice,
            threads=self.threads,
            variant="fp32",
            cache_sessions=self.encoder.cache_sessions,
        )

    def run_teacher(self, spans: np.ndarray, regions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run ``explain/teacher.onnx`` on one photo's spans ``[Nt, D]`` and regions ``[Nr, D]``.

        Returns:
            ``text_to_region [layers, heads, Nt, Nr]`` and ``region_to_text [layers, heads, Nr,
            Nt]``, float32.
        """
        session = self._teacher_session()
        feed = {
            "spans": np.ascontiguousarray(spans[None], dtype=np.float32),
            "span_mask": np.ones((1, len(spans)), dtype=bool),
            "regions": np.ascontiguousarray(regions[None], dtype=np.float32),
            "region_mask": np.ones((1, len(regions)), dtype=bool),
        }
        t2r, r2t = session.run(["text_to_region", "region_to_text"], feed)
        return np.asarray(t2r[0], np.float32), np.asarray(r2t[0], np.float32)

    def _teacher_session(self) -> ort.InferenceSession:
        explain = self.require_explain()
        with self._lock:
            if self._teacher is None:
                relative = str(explain["teacher"])
                # Not through the optimised-model cache: its probe feeds float inputs, the
                # teacher takes bool masks, and a graph this small opens in milliseconds anyway.
                self._teacher = create_session(
                    self.manifest.file_path(relative), self.choice, threads=self.threads
                )
            return self._teacher

    def detector(self) -> OnnxDetector:
        """``explain/detector.onnx`` (its exported confidence threshold)."""
        entry = (self.explain or {}).get("detector")
        if not entry:
            raise ExplainError(f"bundle {self.manifest.name!r} has no detector in explain/")
        with self._lock:
            if self._detector is None:
                self._detector = OnnxDetector(
                    self.manifest.file_path(str(entry["file"])), providers=self.choice.providers
                )
            return self._detector
