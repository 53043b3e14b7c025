"""Torch-free CLIP encoders over a model bundle: images and texts in, L2-normalised vectors out.

This is what indexing, search and the app run. Loading checks the bundle (hashes, format) and
picks the execution provider, but opens each ONNX session only when first used: a text search
never pays for loading the image tower, which keeps the start of ``dclip search`` short. Sessions
open from ONNX Runtime's cached optimised model when there is one
(:mod:`dclip_core.runtime.session_cache`).

Text towers exported with a symbolic sequence axis (ADR 0009) run only up to the batch's last
end-of-text token: the tower is causal and pools at that token, so the padding after it cannot
change any output, and a query of a few words costs a fraction of the 77 positions. Bundles with a
fixed length run as before.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from dclip_core.config.paths import get_paths
from dclip_core.errors import BundleError
from dclip_core.runtime.bundle import VARIANTS, BundleManifest, load_manifest
from dclip_core.runtime.images import load_image
from dclip_core.runtime.preprocess import preprocess_batch
from dclip_core.runtime.session import (
    ProviderChoice,
    choose_provider,
    create_session,
    input_is_dynamic,
    optimization_for_variant,
)
from dclip_core.runtime.tokenizer import ClipTokenizer

ImageInput = Image.Image | str | Path


class ClipEncoder:
    """The image and text towers of one bundle, run by ONNX Runtime.

    Build it with :meth:`load`. Methods are safe to call from several threads (ONNX Runtime
    sessions are; lazy opening is guarded by a lock).

    Attributes:
        manifest: the verified bundle manifest.
        provider: the provider sessions run on, e.g. ``"CPUExecutionProvider"``.
        provider_choice: that provider with the reason it was chosen.
        variant: ``"fp32"``, ``"fp16"`` or ``"int8"``.
        threads: intra-op CPU threads per session (0 = ONNX Runtime's default).
        spinning: whether idle intra-op threads busy-wait (see
            :func:`~dclip_core.runtime.session.create_session`).
        cache_sessions: open sessions through the optimised-model cache.
    """

    def __init__(
        self,
        manifest: BundleManifest,
        choice: ProviderChoice,
        *,
        threads: int,
        variant: str,
        cache_sessions: bool = True,
        spinning: bool = True,
    ) -> None:
        self.manifest = manifest
        self.provider_choice = choice
        self.provider = choice.provider
        self.threads = threads
        self.spinning = spinning
        self.variant = variant
        self.cache_sessions = cache_sessions
        self._image_file, self._text_file = manifest.tower_files(variant)
        self._lock = threading.Lock()
        self._image_session: ort.InferenceSession | None = None
        self._text_session: ort.InferenceSession | None = None
        self._text_length_is_dynamic = False
        self._text_opening: Future[ort.InferenceSession] | None = None
        self._tokenizer: ClipTokenizer | None = None

    @classmethod
    def load(
        cls,
        bundle: Path | str,
        *,
        provider: str = "auto",
        threads: int = 0,
        variant: str = "fp32",
        cache_sessions: bool = True,
        spinning: bool = True,
    ) -> ClipEncoder:
        """Open a bundle for inference.

        Args:
            bundle: a bundle folder or the name of one under the bundles folder.
            provider: ``"auto"``, ``"cpu"`` or ``"cuda"`` (see :mod:`dclip_core.runtime.session`).
            threads: intra-op CPU threads; 0 lets ONNX Runtime choose.
            variant: which encoding of the towers to run: ``"fp32"``, or ``"int8"`` / ``"fp16"``
                when the bundle was exported with them.
            cache_sessions: open sessions from ONNX Runtime's optimised model, cached in the
                user cache on first use (False: optimise from the bundle file every time).
            spinning: False when other work of the process shares the cores with the model (the
                indexer's decoders): idle ONNX Runtime threads then sleep instead of spinning.

        Raises:
            BundleError: the bundle is missing, of another format, tampered with, or lacks the
                variant.
            ExecutionProviderError: the provider cannot be used.
        """
        if variant not in VARIANTS:
            raise BundleError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
        manifest = load_manifest(bundle)
        return cls(
            manifest,
            choose_provider(provider),
            threads=threads,
            variant=variant,
            cache_sessions=cache_sessions,
            spinning=spinning,
        )

    @property
    def embed_dim(self) -> int:
        return self.manifest.embed_dim

    @property
    def fingerprint(self) -> str:
        """Id of the model (and variant) that produced the vectors; keys stored embeddings."""
        return self.manifest.variant_fingerprint(self.variant)

    @property
    def tokenizer(self) -> ClipTokenizer:
        """The bundle's tokenizer (loaded on first use)."""
        with self._lock:
            if self._tokenizer is None:
                self._tokenizer = ClipTokenizer(
                    self.manifest.file_path(self.manifest.text.tokenizer),
                    self.manifest.text.context_length,
                )
            return self._tokenizer

    def embed_images(self, images: Sequence[ImageInput], batch_size: int = 32) -> np.ndarray:
        """Embed images given as PIL images or file paths.

        Files are decoded in full with EXIF orientation applied
        (:func:`~dclip_core.runtime.images.load_image`).

        Returns:
            ``(len(images), embed_dim)`` float32, each row L2-normalised.

        Raises:
            ImageDecodeError: a file cannot be decoded (names the file).
        """
        _check_batch_size(batch_size)
        out = np.empty((len(images), self.embed_dim), dtype=np.float32)
        cfg = self.manifest.image.preprocess
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            pil = [
                item if isinstance(item, Image.Image) else load_image(Path(item)) for item in chunk
            ]
            out[start : start + len(chunk)] = self.embed_pixels(preprocess_batch(pil, cfg))
        return out

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Embed already preprocessed images.

        Args:
            pixels: ``(B, 3, S, S)`` float32, from
                :func:`~dclip_core.runtime.preprocess.preprocess_batch` with this bundle's
                preprocessing.

        Returns:
            ``(B, embed_dim)`` float32, L2-normalised rows.
        """
        size = self.manifest.image.preprocess.size
        if pixels.ndim != 4 or pixels.shape[1:] != (3, size, size):
            raise ValueError(f"pixels must have shape (B, 3, {size}, {size}), not {pixels.shape}")
        if len(pixels) == 0:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        session = self._image()
        (embeddings,) = session.run(
            ["embeddings"], {"pixels": np.ascontiguousarray(pixels, np.float32)}
        )
        return np.asarray(embeddings, dtype=np.float32)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed texts (queries, captions).

        Returns:
            ``(len(texts), embed_dim)`` float32, L2-normalised rows.
        """
        _check_batch_size(batch_size)
        if isinstance(texts, str):
            texts = [texts]
        out = np.empty((len(texts), self.embed_dim), dtype=np.float32)
        self._start_opening_text_session()
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            (embeddings,) = self._run_text(self.tokenizer(chunk), ["embeddings"])
            out[start : start + len(chunk)] = embeddings
        return out

    def encode_text_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Embeddings plus per-token states, for span-level explanations.

        Returns:
            ``(embeddings, token_states, input_ids)``: ``(B, D)`` L2-normalised float32;
            ``(B, L, D)`` float32, each token's final state after the final layer norm and text
            projection, not normalised; ``(B, L)`` int64 token ids (start token, BPE ids, end
            token, zero padding). ``L`` is the context length. With a dynamic-length text tower
            the positions after the batch's last end token are not computed and their states
            are zeros (they hold padding, which no span covers).
        """
        if isinstance(texts, str):
            texts = [texts]
        self._start_opening_text_session()
        ids = self.tokenizer(texts)
        if len(ids) == 0:
            dim, length = self.embed_dim, self.manifest.text.context_length
            return (
                np.zeros((0, dim), np.float32),
                np.zeros((0, length, dim), np.float32),
                ids,
            )
        embeddings, states = self._run_text(ids, ["embeddings", "token_states"])
        if states.shape[1] < ids.shape[1]:
            padded = np.zeros((*ids.shape, states.shape[2]), dtype=np.float32)
            padded[:, : states.shape[1]] = states
            states = padded
        return np.asarray(embeddings, np.float32), np.asarray(states, np.float32), ids

    def _run_text(self, ids: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
        """Run the text tower on ``ids``, trimmed after the last end token when it allows."""
        session = self._text()
        if self._text_length_is_dynamic:
            ids = ids[:, : trimmed_length(ids, self.tokenizer.eot_token_id)]
        return [np.asarray(out) for out in session.run(outputs, {"input_ids": ids})]

    def _image(self) -> ort.InferenceSession:
        with self._lock:
            if self._image_session is None:
                self._image_session = self._open(self._image_file)
            return self._image_session

    def _start_opening_text_session(self) -> None:
        """Open the text session in a helper thread while the caller loads the tokenizer.

        The first query of a process needs both, ~0.5 s and ~0.15 s; ONNX Runtime releases the
        GIL while it builds a session, so on a machine with a free core they overlap.
        """
        with self._lock:
            if self._text_session is not None or self._text_opening is not None:
                return
            opening: Future[ort.InferenceSession] = Future()
            self._text_opening = opening
        threading.Thread(
            target=self._open_text_into, args=(opening,), name="dclip-open-text-session"
        ).start()

    def _open_text_into(self, opening: Future[ort.InferenceSession]) -> None:
        try:
            opening.set_result(self._open(self._text_file))
        except Exception as exc:
            # Not swallowed: the caller waiting on the future raises it.
            opening.set_exception(exc)

    def _text(self) -> ort.InferenceSession:
        """The text session: opened here, or by the helper thread if one is at it."""
        with self._lock:
            if self._text_session is not None:
                return self._text_session
            opening = self._text_opening
        if opening is None:
            session = self._open(self._text_file)
        else:
            try:
                session = opening.result()
            except BaseException:
                with self._lock:
                    self._text_opening = None  # the next call tries again
                raise
        with self._lock:
            if self._text_session is None:
                self._text_length_is_dynamic = input_is_dynamic(session, "input_ids", 1)
                self._text_session = session
            self._text_opening = None
            return self._text_session

    def _open(self, relative: str) -> ort.InferenceSession:
        return create_session(
            self.manifest.file_path(relative),
            self.provider_choice,
            threads=self.threads,
            spinning=self.spinning,
            optimization=optimization_for_variant(self.variant),
            cache_dir=get_paths().cache_dir / "onnxruntime" if self.cache_sessions else None,
            model_sha256=self.manifest.files[relative],
        )


def trimmed_length(ids: np.ndarray, end_id: int) -> int:
    """How many leading positions of ``ids`` a causal, end-pooled text tower needs.

    That is one past the last end token of any row: later positions are padding that no
    earlier position attends to. A row without an end token keeps the full length.

    Args:
        ids: ``(B, L)`` token ids, each row start token, BPE ids, end token, zero padding.
        end_id: the tokenizer's end-of-text id.
    """
    if ids.shape[0] == 0:
        return int(ids.shape[1])
    is_end = ids == end_id
    if not is_end.any(axis=1).all():
        return int(ids.shape[1])
    last_end = ids.shape[1] - 1 - np.argmax(is_end[:, ::-1], axis=1)
    return int(last_end.max()) + 1


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
