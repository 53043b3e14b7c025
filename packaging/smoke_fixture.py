"""What packaging/smoke.sh runs the built app against, made with the development environment.

    .venv/bin/python packaging/smoke_fixture.py WORKDIR

writes
1. ``WORKDIR/bundle``: the ``test-tiny`` model bundle (random weights, seconds to export) with
   ``explain/`` (a random two-layer teacher and the ``yolo-test-tiny`` detector), so the slim
   build, which cannot export, can index, search and explain;
2. ``WORKDIR/photos``: six small JPEGs of coloured shapes, one of them a PNG and one a HEIC when
   pillow-heif is installed (the decoders the build must carry);
3. ``WORKDIR/home/config/settings.json`` (DCLIP_HOME=WORKDIR/home) with the bundle as the Model,
   so the app opens on its library page.

Nothing here touches the network or the user's files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PIL import Image, ImageDraw

SHAPES = (
    ("red-circle", "red", "ellipse"),
    ("blue-square", "blue", "rectangle"),
    ("green-circle", "green", "ellipse"),
    ("yellow-square", "yellow", "rectangle"),
    ("red-square", "red", "rectangle"),
    ("blue-circle", "blue", "ellipse"),
)


def write_photos(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, (name, colour, shape) in enumerate(SHAPES):
        image = Image.new("RGB", (160, 120), "white")
        getattr(ImageDraw.Draw(image), shape)((40, 20, 120, 100), fill=colour)
        if index == 4:
            image.save(folder / f"{name}.png")
        elif index == 5 and _heif_available():
            image.save(folder / f"{name}.heic")
        else:
            image.save(folder / f"{name}.jpg", quality=90)


def _heif_available() -> bool:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def write_bundle(root: Path) -> Path:
    import torch

    from dclip_core.export import export_model
    from dclip_core.export.explain import add_explain
    from dclip_core.models.teacher import CrossModalTeacher, save_teacher

    bundle = export_model("test-tiny", root / "bundle").path
    torch.manual_seed(3)
    teacher = CrossModalTeacher(32, heads=4, layers=2)
    save_teacher(root / "teacher.safetensors", teacher, base_model="test-tiny")
    add_explain(bundle, root / "teacher.safetensors", detector="yolo-test-tiny")
    return bundle


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[0]).resolve()
    # Export and the detector write caches under DCLIP_HOME; keep them out of the smoke's home.
    os.environ["DCLIP_HOME"] = str(root / "fixture-home")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(root / "fixture-home" / "ultralytics"))
    bundle = write_bundle(root)
    write_photos(root / "photos")

    from dclip_core.config import Settings, get_paths, save_settings

    os.environ["DCLIP_HOME"] = str(root / "home")
    saved = save_settings(Settings(model=str(bundle)), get_paths())
    print(f"bundle {bundle}\nphotos {root / 'photos'}\nsettings {saved}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
