"""What evaluation embeds with: a torch CLIP (registry model or student) or an ONNX bundle.

Both give L2-normalised numpy embeddings, so the metric code never knows which one it measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from dclip_core.runtime.preprocess import ImagePreprocess, load_pixels

if TYPE_CHECKING:
    import open_clip


class Embedder(Protocol):
    """A model under evaluation."""

    name: str

    def embed_images(self, paths: Sequence[Path]) -> np.ndarray:
        """[N, D] float32, L2-normalised."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """[N, D] float32, L2-normalised."""
        ...


class TorchClipEmbedder:
    """An open_clip model on CPU or CUDA.

    Args:
        name: label in reports.
        model: the CLIP (eval mode).
        preprocess: its image preprocessing.
        context_length: tokenizer context of the model.
    """

    def __init__(
        self,
        name: str,
        model: open_clip.CLIP,
        preprocess: ImagePreprocess,
        context_length: int = 77,
        batch_size: int = 64,
        device: str = "cpu",
    ) -> None:
        from dclip_core.runtime.tokenizer import ClipTokenizer

        self.name = name
        self.model = model.eval().to(device)
        self.preprocess = preprocess
        self.tokenizer = ClipTokenizer(ClipTokenizer.default_vocab_path(), context_length)
        self.batch_size = batch_size
        self.device = device

    def embed_images(self, paths: Sequence[Path]) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for i in range(0, len(paths), self.batch_size):
                batch = load_pixels(paths[i : i + self.batch_size], self.preprocess)
                pixels = torch.from_numpy(batch).to(self.device)
                features = self.model.encode_image(pixels, normalize=True)
                out.append(features.float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for i in range(0, len(texts), self.batch_size):
                ids = torch.from_numpy(self.tokenizer(list(texts[i : i + self.batch_size])))
                features = self.model.encode_text(ids.to(self.device), normalize=True)
                out.append(features.float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


class BundleEmbedder:
    """An exported ONNX bundle, through the torch-free runtime encoders."""

    def __init__(self, bundle: Path, name: str | None = None, provider: str = "auto") -> None:
        from dclip_core.runtime.encoders import ClipEncoder

        self.encoder = ClipEncoder.load(bundle, provider=provider)
        self.name = name or Path(bundle).name

    def embed_images(self, paths: Sequence[Path]) -> np.ndarray:
        return np.asarray(self.encoder.embed_images(list(paths)), dtype=np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.encoder.embed_texts(list(texts)), dtype=np.float32)


def open_embedder(spec: str, *, device: str = "cpu") -> Embedder:
    """An embedder from a command-line spec.

    ``spec`` is a registered model name (``test-tiny``), a student checkpoint
    (``…/student.safetensors``), or an exported bundle folder (contains ``bundle.json``).
    """
    from dclip_core.models.registry import get_model_spec

    path = Path(spec).expanduser()
    if path.is_dir() and (path / "bundle.json").is_file():
        return BundleEmbedder(path)
    if path.suffix == ".safetensors" or path.is_file():
        from dclip_core.train.distill import load_student

        student, base = load_student(path)
        model_spec = get_model_spec(base)
        return TorchClipEmbedder(
            f"student:{path.parent.name}/{path.name}",
            student,
            model_spec.preprocess,
            model_spec.context_length,
            device=device,
        )
    from dclip_core.models.clip import create_clip

    model_spec = get_model_spec(spec)
    return TorchClipEmbedder(
        spec,
        create_clip(model_spec),
        model_spec.preprocess,
        model_spec.context_length,
        device=device,
    )
