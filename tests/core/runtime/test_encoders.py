"""ClipEncoder: ONNX embeddings equal open_clip's, torch-free, for every input form and variant."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from dclip_core.errors import BundleError, ImageDecodeError
from dclip_core.export.reference_inputs import REFERENCE_TEXTS, reference_images, row_cosines
from dclip_core.runtime.bundle import MANIFEST_NAME, load_manifest, sha256_file
from dclip_core.runtime.encoders import ClipEncoder, trimmed_length

if TYPE_CHECKING:
    from open_clip import CLIP

CAPTIONS = [
    "a photo of a dog",
    "Two cats sleeping on a sofa!",
    "café au lait ☕ — 10/10",
    "&amp; html entities &lt;b&gt;",
    "",
    "word " * 200,
]


@pytest.fixture(scope="module")
def encoder(tiny_bundle: Path) -> ClipEncoder:
    return ClipEncoder.load(tiny_bundle, provider="cpu", threads=1)


@pytest.fixture(scope="module")
def torch_tiny() -> CLIP:
    from dclip_core.models.clip import create_clip

    return create_clip("test-tiny")


def photos() -> list[Image.Image]:
    images = reference_images(6)
    images.append(images[0].convert("L"))
    rgba = images[1].convert("RGBA")
    rgba.putalpha(128)
    images.append(rgba)
    return images


def test_image_embeddings_match_open_clip(encoder: ClipEncoder, torch_tiny: CLIP) -> None:
    import open_clip
    import torch

    pre = encoder.manifest.image.preprocess
    transform = open_clip.image_transform(
        pre.size, is_train=False, mean=pre.mean, std=pre.std, resize_mode=pre.resize_mode
    )
    images = photos()
    ours = encoder.embed_images(images)
    with torch.no_grad():
        pixels = torch.stack([transform(image) for image in images])
        theirs = torch_tiny.encode_image(pixels, normalize=True).numpy()
    assert ours.shape == (len(images), 32)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert row_cosines(ours, theirs).min() >= 0.9999


def test_text_embeddings_and_token_states_match_open_clip(
    encoder: ClipEncoder, torch_tiny: CLIP
) -> None:
    import open_clip
    import torch

    model = torch_tiny
    ours = encoder.embed_texts(CAPTIONS)
    embeddings, states, ids = encoder.encode_text_tokens(CAPTIONS)
    tokens = open_clip.tokenize(CAPTIONS)
    with torch.no_grad():
        theirs = model.encode_text(tokens, normalize=True).numpy()
        x = model.token_embedding(tokens) + model.positional_embedding
        x = model.transformer(x, attn_mask=model.attn_mask)
        their_states = (model.ln_final(x) @ model.text_projection).numpy()
    np.testing.assert_array_equal(ids, tokens.numpy())
    assert row_cosines(ours, theirs).min() >= 0.9999
    np.testing.assert_allclose(embeddings, ours, atol=1e-6)
    assert states.shape == (len(CAPTIONS), 77, 32)
    np.testing.assert_allclose(states, their_states, atol=1e-4)
    # The sentence embedding is the normalised state of the end token.
    end = ids.argmax(axis=1)
    pooled = states[np.arange(len(CAPTIONS)), end]
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    np.testing.assert_allclose(pooled, embeddings, atol=1e-5)


def test_files_and_pil_images_give_the_same_vectors(encoder: ClipEncoder, tmp_path: Path) -> None:
    images = reference_images(3)
    paths: list[str | Path | Image.Image] = []
    for index, image in enumerate(images):
        path = tmp_path / f"photo{index}.png"
        image.save(path)
        paths.append(path if index % 2 else str(path))
    np.testing.assert_allclose(encoder.embed_images(paths), encoder.embed_images(images), atol=1e-6)


def test_batching_does_not_change_results(encoder: ClipEncoder) -> None:
    images = reference_images(5)
    np.testing.assert_allclose(
        encoder.embed_images(images, batch_size=2), encoder.embed_images(images), atol=1e-5
    )
    texts = list(REFERENCE_TEXTS)
    np.testing.assert_allclose(
        encoder.embed_texts(texts, batch_size=3), encoder.embed_texts(texts), atol=1e-5
    )
    assert encoder.embed_texts("one string").shape == (1, 32)


def test_empty_inputs_give_empty_arrays(encoder: ClipEncoder) -> None:
    assert encoder.embed_images([]).shape == (0, 32)
    assert encoder.embed_texts([]).shape == (0, 32)
    embeddings, states, ids = encoder.encode_text_tokens([])
    assert (embeddings.shape, states.shape, ids.shape) == ((0, 32), (0, 77, 32), (0, 77))


def test_bad_inputs_are_reported(encoder: ClipEncoder, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageDecodeError, match=r"broken\.jpg"):
        encoder.embed_images([broken])
    with pytest.raises(ValueError, match=r"shape \(B, 3, 64, 64\)"):
        encoder.embed_pixels(np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        encoder.embed_texts(["x"], batch_size=0)


def test_int8_variant_quality_is_what_the_bundle_reports(
    tiny_bundle: Path, encoder: ClipEncoder
) -> None:
    int8 = ClipEncoder.load(tiny_bundle, provider="cpu", variant="int8")
    reported = load_manifest(tiny_bundle).variants["int8"].quality
    images = reference_images()
    image_cos = row_cosines(int8.embed_images(images), encoder.embed_images(images)).mean()
    texts = list(REFERENCE_TEXTS)
    text_cos = row_cosines(int8.embed_texts(texts), encoder.embed_texts(texts)).mean()
    assert image_cos == pytest.approx(reported["image_mean_cosine"], abs=1e-4)
    assert text_cos == pytest.approx(reported["text_mean_cosine"], abs=1e-4)
    assert image_cos > 0.95
    assert text_cos > 0.95
    assert int8.fingerprint != encoder.fingerprint


def test_fp16_variant_runs_with_fp32_inputs_and_outputs(
    tiny_bundle: Path, encoder: ClipEncoder
) -> None:
    fp16 = ClipEncoder.load(tiny_bundle, provider="cpu", variant="fp16")
    images = reference_images(4)
    out = fp16.embed_images(images)
    assert out.dtype == np.float32
    assert row_cosines(out, encoder.embed_images(images)).min() > 0.999
    assert row_cosines(fp16.embed_texts(CAPTIONS), encoder.embed_texts(CAPTIONS)).min() > 0.999


def test_missing_or_unknown_variant_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="unknown variant 'int4'"):
        ClipEncoder.load(tiny_bundle, variant="int4")
    plain = shutil.copytree(tiny_bundle, tmp_path / "plain")
    manifest = json.loads((plain / MANIFEST_NAME).read_text())
    manifest["variants"] = {}
    (plain / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"no 'int8' variant.*--int8"):
        ClipEncoder.load(plain, variant="int8")


def test_corrupt_onnx_with_matching_hash_fails_on_first_use(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    bundle = shutil.copytree(tiny_bundle, tmp_path / "corrupt")
    (bundle / "text.onnx").write_bytes(b"\x08\x07garbage that is not an onnx graph")
    manifest = json.loads((bundle / MANIFEST_NAME).read_text())
    manifest["files"]["text.onnx"] = sha256_file(bundle / "text.onnx")
    (bundle / MANIFEST_NAME).write_text(json.dumps(manifest))
    encoder = ClipEncoder.load(bundle, provider="cpu")
    assert encoder.embed_images(reference_images(1)).shape == (1, 32)  # the image tower is fine
    with pytest.raises(BundleError, match=r"cannot load .*text\.onnx"):
        encoder.embed_texts(["hello"])
    # The session opens in a helper thread; its failure reaches every later call too.
    with pytest.raises(BundleError, match=r"cannot load .*text\.onnx"):
        encoder.encode_text_tokens(["hello"])


def test_runtime_encodes_without_importing_torch(tiny_bundle: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import dclip_core.runtime.encoders
        assert "torch" not in sys.modules, "import pulled in torch"
        from dclip_core.runtime.encoders import ClipEncoder, trimmed_length
        encoder = ClipEncoder.load({str(tiny_bundle)!r}, provider="auto")
        vectors = encoder.embed_texts(["a photo of a dog"])
        from PIL import Image
        encoder.embed_images([Image.new("RGB", (80, 60), "red")])
        heavy = sorted(m for m in ("torch", "open_clip", "torchvision") if m in sys.modules)
        print(vectors.shape, heavy, encoder.provider)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0].startswith("(1, 32) []")


def test_trimmed_length_is_one_past_the_last_end_token_of_the_batch() -> None:
    end = 49407
    ids = np.zeros((3, 10), np.int64)
    ids[:, 0] = 49406
    ids[0, 1:3] = [320, end]
    ids[1, 1:6] = [320, 1125, 539, 320, end]
    ids[2, 1] = end
    assert trimmed_length(ids, end) == 6
    assert trimmed_length(ids[[0, 2]], end) == 3
    no_end = ids.copy()
    no_end[2, 1] = 0  # a row without an end token keeps every position
    assert trimmed_length(no_end, end) == 10
    assert trimmed_length(np.zeros((0, 10), np.int64), end) == 10


MIXED = ["a dog", "", "two children playing football on a wet beach at sunset", "word " * 200]


def _open_clip_states(model: CLIP, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    import open_clip
    import torch

    tokens = open_clip.tokenize(texts)
    with torch.no_grad():
        sentence = model.encode_text(tokens, normalize=True).numpy()
        x = model.token_embedding(tokens) + model.positional_embedding
        x = model.transformer(x, attn_mask=model.attn_mask)
        states = (model.ln_final(x) @ model.text_projection).numpy()
    return sentence, states


@pytest.mark.parametrize("texts", [MIXED[:2], MIXED[:3], MIXED, [MIXED[3]]])
def test_dynamic_tower_runs_to_the_last_end_token_with_open_clip_results(
    encoder: ClipEncoder, torch_tiny: CLIP, texts: list[str]
) -> None:
    expected, expected_states = _open_clip_states(torch_tiny, texts)
    embeddings, states, ids = encoder.encode_text_tokens(texts)
    assert row_cosines(encoder.embed_texts(texts), expected).min() >= 0.9999
    assert row_cosines(embeddings, expected).min() >= 0.9999
    length = trimmed_length(ids, 49407)
    assert states.shape == (len(texts), 77, 32)
    np.testing.assert_allclose(states[:, :length], expected_states[:, :length], atol=1e-4)
    # Positions after the batch's last end token were never computed.
    assert not states[:, length:].any()


@pytest.fixture(scope="module")
def fixed_length_bundle(
    tiny_bundle: Path, torch_tiny: CLIP, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The tiny bundle with its text tower exported the way DCLIP did before dynamic lengths."""
    from dclip_core.export.onnx_export import export_text_tower

    bundle = shutil.copytree(tiny_bundle, tmp_path_factory.mktemp("fixed") / "bundle")
    assert export_text_tower(torch_tiny, 77, bundle / "text.onnx", dynamic_length=False) is False
    manifest = json.loads((bundle / MANIFEST_NAME).read_text())
    manifest["files"]["text.onnx"] = sha256_file(bundle / "text.onnx")
    (bundle / MANIFEST_NAME).write_text(json.dumps(manifest))
    return bundle


def test_fixed_length_bundles_keep_working_unchanged(
    fixed_length_bundle: Path, encoder: ClipEncoder, torch_tiny: CLIP
) -> None:
    old = ClipEncoder.load(fixed_length_bundle, provider="cpu", threads=1)
    expected, expected_states = _open_clip_states(torch_tiny, MIXED[:3])
    embeddings, states, _ = old.encode_text_tokens(MIXED[:3])
    assert row_cosines(embeddings, expected).min() >= 0.9999
    # Every one of the 77 positions is computed, as before: nothing was trimmed.
    np.testing.assert_allclose(states, expected_states, atol=1e-4)
    np.testing.assert_allclose(old.embed_texts(MIXED), encoder.embed_texts(MIXED), atol=1e-5)


def test_sessions_come_from_the_optimised_model_cache(tiny_bundle: Path, dclip_home: Path) -> None:
    cache = dclip_home / "cache" / "onnxruntime"
    uncached = ClipEncoder.load(tiny_bundle, provider="cpu", cache_sessions=False)
    vectors = uncached.embed_texts(MIXED)
    assert not cache.exists()
    first = ClipEncoder.load(tiny_bundle, provider="cpu").embed_texts(MIXED)
    assert len(list(cache.iterdir())) == 1
    again = ClipEncoder.load(tiny_bundle, provider="cpu")
    np.testing.assert_allclose(again.embed_texts(MIXED), vectors, atol=1e-5)
    np.testing.assert_allclose(first, vectors, atol=1e-5)
    assert len(list(cache.iterdir())) == 1  # the second encoder reused the entry
