"""Bundle manifests: what a loaded bundle says, and every way a bundle is refused."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from dclip_core.errors import BundleError
from dclip_core.runtime.bundle import (
    BUNDLE_FORMAT_VERSION,
    MANIFEST_NAME,
    load_manifest,
    resolve_bundle,
    sha256_file,
)


def copy_bundle(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def edit_manifest(bundle: Path, change: Any) -> None:
    path = bundle / MANIFEST_NAME
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_manifest_describes_the_exported_model(tiny_bundle: Path) -> None:
    manifest = load_manifest(tiny_bundle)
    assert manifest.path == tiny_bundle
    assert (manifest.model_spec, manifest.kind, manifest.base_model) == (
        "test-tiny",
        "clip",
        "test-tiny/random",
    )
    assert manifest.embed_dim == 32
    assert manifest.meaningless
    assert manifest.image.preprocess.size == 64
    assert manifest.text.context_length == 77
    assert set(manifest.variants) == {"int8", "fp16"}
    for variant in manifest.variants.values():
        assert 0.9 < variant.quality["image_mean_cosine"] <= 1.0
        assert 0.9 < variant.quality["text_mean_cosine"] <= 1.0
    on_disk = {
        p.relative_to(tiny_bundle).as_posix()
        for p in tiny_bundle.rglob("*")
        if p.is_file() and p.name != MANIFEST_NAME
    }
    assert set(manifest.files) == on_disk
    assert manifest.files["image.onnx"] == sha256_file(tiny_bundle / "image.onnx")


def test_fingerprint_is_short_stable_and_differs_per_variant(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    manifest = load_manifest(tiny_bundle)
    assert len(manifest.fingerprint) == 16
    int(manifest.fingerprint, 16)
    # A copy elsewhere, renamed, is the same model: the fingerprint depends on content only.
    copy = copy_bundle(tiny_bundle, tmp_path / "renamed")
    edit_manifest(copy, lambda d: d.update(name="another name"))
    assert load_manifest(copy).fingerprint == manifest.fingerprint
    fingerprints = {manifest.variant_fingerprint(v) for v in ("fp32", "int8", "fp16")}
    assert len(fingerprints) == 3


def test_changed_preprocessing_changes_the_fingerprint(tiny_bundle: Path, tmp_path: Path) -> None:
    copy = copy_bundle(tiny_bundle, tmp_path / "b")
    edit_manifest(copy, lambda d: d["image"]["preprocess"].update(resize_mode="squash"))
    assert load_manifest(copy).fingerprint != load_manifest(tiny_bundle).fingerprint


def test_resolve_finds_a_bundle_by_folder_manifest_or_name(
    tiny_bundle: Path, dclip_home: Path
) -> None:
    assert resolve_bundle(tiny_bundle) == tiny_bundle
    assert resolve_bundle(tiny_bundle / MANIFEST_NAME) == tiny_bundle
    named = copy_bundle(tiny_bundle, dclip_home / "data" / "bundles" / "my-model")
    assert resolve_bundle("my-model") == named
    assert load_manifest("my-model").path == named


def test_missing_bundle_is_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"no model bundle at .*dclip export"):
        load_manifest(tmp_path / "nowhere")
    with pytest.raises(BundleError, match="not a model bundle"):
        load_manifest(tmp_path)
    with pytest.raises(BundleError, match="no model bundle"):
        resolve_bundle("not-exported-yet")


def test_other_format_version_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    newer = copy_bundle(tiny_bundle, tmp_path / "newer")
    edit_manifest(newer, lambda d: d.update(format_version=BUNDLE_FORMAT_VERSION + 1))
    with pytest.raises(BundleError, match=r"format version 2.*upgrade DCLIP"):
        load_manifest(newer)
    older = copy_bundle(tiny_bundle, tmp_path / "older")
    edit_manifest(older, lambda d: d.update(format_version=0))
    with pytest.raises(BundleError, match=r"format version 0.*re-export"):
        load_manifest(older)


def test_not_a_bundle_manifest_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    other = copy_bundle(tiny_bundle, tmp_path / "other")
    edit_manifest(other, lambda d: d.update(format="something-else"))
    with pytest.raises(BundleError, match="not a DCLIP model bundle"):
        load_manifest(other)
    (other / MANIFEST_NAME).write_text("{ not json")
    with pytest.raises(BundleError, match=r"cannot read .*bundle\.json"):
        load_manifest(other)


def test_malformed_manifest_names_the_problem(tiny_bundle: Path, tmp_path: Path) -> None:
    broken = copy_bundle(tiny_bundle, tmp_path / "broken")
    edit_manifest(broken, lambda d: d.pop("embed_dim"))
    with pytest.raises(BundleError, match=r"malformed.*embed_dim"):
        load_manifest(broken)


def test_file_names_cannot_leave_the_bundle(tiny_bundle: Path, tmp_path: Path) -> None:
    escaping = copy_bundle(tiny_bundle, tmp_path / "escaping")
    (tmp_path / "outside.onnx").write_bytes((escaping / "image.onnx").read_bytes())

    def point_outside(data: dict[str, Any]) -> None:
        data["image"]["file"] = "../outside.onnx"
        data["files"]["../outside.onnx"] = data["files"]["image.onnx"]

    edit_manifest(escaping, point_outside)
    with pytest.raises(BundleError, match="not a plain path inside the bundle"):
        load_manifest(escaping)


def test_tampered_file_is_named_even_after_a_cached_verification(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    bundle = copy_bundle(tiny_bundle, tmp_path / "tampered")
    load_manifest(bundle)  # verified and remembered in the cache
    model = bundle / "text.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte different
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"text\.onnx does not match the sha256"):
        load_manifest(bundle)
    # Inspection without verification still works (dclip models info --no-verify style tools).
    assert load_manifest(bundle, verify=False).name == "test-tiny"


def test_truncated_and_missing_files_are_named(tiny_bundle: Path, tmp_path: Path) -> None:
    truncated = copy_bundle(tiny_bundle, tmp_path / "truncated")
    model = truncated / "image.int8.onnx"
    model.write_bytes(model.read_bytes()[:1000])
    with pytest.raises(BundleError, match=r"image\.int8\.onnx does not match"):
        load_manifest(truncated)
    missing = copy_bundle(tiny_bundle, tmp_path / "missing")
    (missing / "tokenizer" / "bpe_simple_vocab_16e6.txt.gz").unlink()
    with pytest.raises(BundleError, match=r"incomplete: tokenizer/bpe_simple_vocab_16e6\.txt\.gz"):
        load_manifest(missing)


def test_verification_is_cached_in_the_user_cache_not_the_bundle(
    tiny_bundle: Path, tmp_path: Path, dclip_home: Path
) -> None:
    bundle = copy_bundle(tiny_bundle, tmp_path / "cached")
    before = sorted(p.name for p in bundle.rglob("*"))
    load_manifest(bundle)
    assert sorted(p.name for p in bundle.rglob("*")) == before
    caches = list((dclip_home / "cache" / "verified-bundles").glob("*.json"))
    assert len(caches) == 1
    remembered = json.loads(caches[0].read_text())
    assert remembered["bundle"] == str(bundle)
    assert set(remembered["files"]) == set(load_manifest(bundle).files)
    # A rewritten manifest (new export in place) invalidates what was remembered.
    edit_manifest(bundle, lambda d: d["files"].update({"image.onnx": "0" * 64}))
    with pytest.raises(BundleError, match=r"image\.onnx does not match"):
        load_manifest(bundle)


def test_a_file_touched_but_unchanged_is_still_accepted(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = copy_bundle(tiny_bundle, tmp_path / "touched")
    load_manifest(bundle)
    os.utime(bundle / "image.onnx", ns=(1, 1))  # new mtime forces a re-hash, content is intact
    assert load_manifest(bundle).fingerprint == load_manifest(tiny_bundle).fingerprint


def test_manifest_json_round_trips(tiny_bundle: Path) -> None:
    manifest = load_manifest(tiny_bundle)
    on_disk = json.loads((tiny_bundle / MANIFEST_NAME).read_text())
    assert manifest.to_json() == on_disk
    assert list(on_disk)[:3] == ["format", "format_version", "name"]
    assert on_disk["explain"] is None
    assert on_disk["provenance"]["source"] == "model:test-tiny"


def test_query_template_is_read_written_and_checked(tiny_bundle: Path, tmp_path: Path) -> None:
    assert load_manifest(tiny_bundle).text.query_template is None  # test-tiny names none
    older = copy_bundle(tiny_bundle, tmp_path / "older")
    edit_manifest(older, lambda d: d["text"].pop("query_template"))  # written before it existed
    assert load_manifest(older).text.query_template is None

    worded = copy_bundle(tiny_bundle, tmp_path / "worded")
    edit_manifest(worded, lambda d: d["text"].update(query_template="a photo of {}."))
    manifest = load_manifest(worded)
    assert manifest.to_json()["text"]["query_template"] == "a photo of {}."
    assert manifest.fingerprint == load_manifest(tiny_bundle).fingerprint  # vectors unchanged
    text = manifest.text
    assert text.query_text("a dog") == "a photo of a dog."
    assert text.query_text("  A photo of my cat.  ") == "A photo of my cat."  # already worded
    assert load_manifest(tiny_bundle).text.query_text("a dog") == "a dog"

    broken = copy_bundle(tiny_bundle, tmp_path / "broken")
    edit_manifest(broken, lambda d: d["text"].update(query_template="no placeholder"))
    with pytest.raises(BundleError, match=r"malformed.*query_template"):
        load_manifest(broken)
