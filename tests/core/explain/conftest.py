"""Bundles and photos for the explain runtime's tests: ``test-tiny`` with a random teacher."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.images import photo

TEACHER_LAYERS = 2
TEACHER_HEADS = 4


@pytest.fixture(scope="session")
def explain_bundle(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_bundle`` with ``explain/``: a random 2-layer, 4-head teacher and ``yolo-test-tiny``.

    The teacher file says it trained 5 steps, so the runtime's only caveat is the random base.
    Read-only: copy it before changing anything.
    """
    return build_explain_bundle(tiny_bundle, tmp_path_factory.mktemp("explain-bundle"))


def build_explain_bundle(tiny_bundle: Path, root: Path) -> Path:
    """Copy ``tiny_bundle`` to ``root/bundle`` and add explain/ (see ``explain_bundle``)."""
    import torch

    from dclip_core.export.explain import add_explain
    from dclip_core.models.teacher import CrossModalTeacher, save_teacher

    target = root / "bundle"
    shutil.copytree(tiny_bundle, target)
    torch.manual_seed(3)
    teacher = CrossModalTeacher(32, heads=TEACHER_HEADS, layers=TEACHER_LAYERS)
    save_teacher(root / "teacher.safetensors", teacher, base_model="test-tiny", extra={"steps": 5})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DCLIP_HOME", str(root / "home"))
        add_explain(target, root / "teacher.safetensors", detector="yolo-test-tiny")
    return target


@pytest.fixture
def scene_photo(tmp_path: Path) -> Path:
    """A real photograph (scikit-image's coffee cup), 300x200, as a JPEG."""
    path = tmp_path / "coffee.jpg"
    photo("coffee", (300, 200)).save(path, quality=92)
    return path
