"""Regenerate docs/screenshots/*.png: the first-run panel (and its demo being built), Settings,
and with ``--demo`` the demo's search and the visualizer.

Run under a virtual X server so fonts and styles are those of a real desktop::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python packaging/screenshots.py

(offscreen also works: ``QT_QPA_PLATFORM=offscreen``). Everything is written under a temporary
DCLIP_HOME (``DCLIP_SCREENS_HOME=/home/user/dclip`` names a neutral one: its paths show in the
pictures); the library is a few dozen sample photos (scikit-image's, when installed, else drawn
ones) indexed with the random-init ``test-tiny`` model, so no picture shows its results.

``screenshots.py --demo DEMO_HOME`` instead opens a demo built by ``dclip demo`` (its home, e.g.
``~/.local/share/dclip/demo``: a trained model whose scores mean something) and writes
``demo-search.png``: "red circle" searched, the crops that matched outlined; then "Why this match?"
on the first result with the photo's own caption as the query: ``explain-span.png`` (a span
selected, spotlight on) and ``explain-region.png`` (a region selected, the spans shaded by it);
then the annotation window on a demo scene with the demo detector's suggestions:
``annotate-boxes.png`` and ``annotate-captions.png``.
Pass a copy of the demo home: the app writes its window state and caches there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from PySide6.QtWidgets import QApplication

    from dclip_app.main_window import MainWindow
    from dclip_core.library.annotations import Annotations, Photo

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "screenshots"


def write_sample_photos(folder: Path, part: int) -> None:
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    try:
        from skimage import data

        samples = {
            "astronaut": data.astronaut(), "coffee": data.coffee(), "cat": data.chelsea(),
            "rocket": data.rocket(), "retina": data.retina(), "hubble": data.hubble_deep_field(),
            "stain": data.immunohistochemistry(), "motorcycle": data.stereo_motorcycle()[0],
        }  # fmt: skip
        for i, (name, pixels) in enumerate(samples.items()):
            if i % 2 != part:
                continue
            image = Image.fromarray(pixels).convert("RGB")
            image.save(folder / f"{name}.jpg", quality=88)
            for j, angle in enumerate((90, 180)):
                image.rotate(angle, expand=True).save(folder / f"{name}-{j + 2}.jpg", quality=85)
            if i % 4 < 2:
                image.crop((0, 0, image.width // 2, image.height // 2)).save(
                    folder / f"{name}-detail.jpg", quality=85
                )
        return
    except ImportError:
        pass
    for i in range(part * 12, part * 12 + 12):
        image = Image.new("RGB", (480, 360), ((i * 37) % 255, (i * 91) % 255, (i * 53) % 255))
        ImageDraw.Draw(image).ellipse((60 + i * 5, 40, 400, 320), fill=(250 - i * 9, 200, 90))
        image.save(folder / f"drawing{i:02d}.jpg", quality=88)


def spin(condition: Callable[[], object], seconds: float = 60) -> None:
    """Run the Qt event loop until ``condition()`` holds or ``seconds`` pass."""
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def started_window(app: QApplication, width: int, height: int) -> MainWindow:
    """The main window from the current settings, shown, started, its model loaded."""
    from dclip_app.app import create_main_window

    window = create_main_window(app)
    window.resize(width, height)
    window.show()
    loaded: list[bool] = []
    window.service.model_loaded.connect(lambda *_: loaded.append(True))
    window.start()
    spin(lambda: loaded)
    return window


def search_and_select(window: MainWindow, text: str, without: str = "") -> None:
    """Search ``text`` (minus ``without``), select the first result, let thumbnails arrive."""
    searched: list[object] = []
    window.service.search_done.connect(searched.append)
    window.search_bar.text_field.setText(text)
    window.search_bar.without_field.setText(without)
    window.search_bar.emit_now()
    spin(lambda: searched)
    window.results.view.setFocus()
    window.results.view.select_first()
    spin(lambda: False, 2.0)


def demo_search(demo_home: Path) -> int:
    """The demo window searching "red circle" (library indexed with regions by ``dclip demo``)."""
    os.environ["DCLIP_HOME"] = str(demo_home)
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb" if os.environ.get("DISPLAY") else "offscreen")
    sys.path.insert(0, str(REPO))
    from PySide6.QtWidgets import QApplication

    from dclip_core.shapes.demo import DEMO_BANNER

    app = QApplication(sys.argv[:1])
    window = started_window(app, 1360, 860)
    window.show_banner(DEMO_BANNER)
    search_and_select(window, "red circle")
    OUT.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(OUT / "demo-search.png"))
    demo_explain(window, demo_home)
    window.confirm_close = lambda work: True  # type: ignore[method-assign]
    window.close()
    demo_annotate(demo_home)
    print(
        "wrote demo-search.png, explain-span.png, explain-region.png, annotate-boxes.png, "
        f"annotate-captions.png into {OUT}"
    )
    return 0


def _overlap(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def demo_annotate(demo_home: Path) -> None:
    """The annotation window on a demo scene: the demo detector's real suggestions (``dclip
    annotate suggest``), one accepted, the scene's captions, a span linked to its box."""
    import csv

    from screens_annotate import annotate_screens  # beside this script (sys.path[0])

    from dclip_core.shapes.world import scenes_by_file

    test = demo_home / "world" / "test"
    subprocess.run(
        [sys.executable, "-m", "dclip_core", "annotate", "suggest", str(test)],
        check=True,
        env={**os.environ, "DCLIP_HOME": str(demo_home)},
    )
    scenes = scenes_by_file(test)
    with (test / "captions.csv").open(encoding="utf-8") as f:
        captions: dict[str, list[str]] = {}
        for row in csv.DictReader(f):
            captions.setdefault(row["file"], []).append(row["caption"])

    def seed(api: Annotations, photos: Sequence[Photo]) -> Photo:
        # A scene of three or four objects the detector found each of, and not yet annotated.
        for photo in photos:
            name = Path(photo.path).name
            scene = scenes.get(name)
            waiting = api.suggestions(photo.image_id)
            if scene is None or api.captions(photo.image_id):
                continue
            if not 3 <= len(scene.objects) <= 4 or len(waiting) < len(scene.objects):
                continue
            # The demo's detector finds "shape"s: the user accepts its best box, named by the
            # object under it, and links the caption's words for that object to it.
            best = max(waiting, key=lambda b: b.score or 0.0)
            under = max(scene.objects, key=lambda o: _overlap(o.box, best.corners))
            api.accept([best.id], label=under.label)
            text, *others = captions[name][:2]
            first = api.add_caption(photo.image_id, text).first_created()
            for caption in others:
                api.add_caption(photo.image_id, caption)
            words = under.phrase[2:]  # "large orange circle"
            if words in text:
                api.link_span(first.id, text.index(words), text.index(words) + len(words), best.id)
            return photo
        raise RuntimeError("no demo scene with every object suggested")

    annotate_screens(demo_home, OUT, seed=seed)


def demo_explain(window: MainWindow, demo_home: Path) -> None:
    """Why this match? on the current result, with its shortest caption typed as the query."""
    import csv

    hit = window.results.view.current_hit()
    assert hit is not None, "the demo search found nothing to explain"
    name = Path(hit.path).name
    with open(demo_home / "world" / "test" / "captions.csv", encoding="utf-8") as handle:
        captions = [row["caption"] for row in csv.DictReader(handle) if row["file"] == name]
    explainer = window.open_explain_window()
    explainer.resize(1180, 860)
    done: list[object] = []
    explainer.runner.explained.connect(done.append)
    explainer.runner.failed.connect(done.append)
    explainer.explain(Path(hit.path), min(captions, key=len) if captions else "red circle")
    spin(lambda: done, 120)
    assert explainer.explanation is not None, f"explaining {name} failed: {done}"
    spans = explainer.explanation.spans
    red = next((i for i, s in enumerate(spans) if "red" in s.text), 0)
    explainer.select_span(red)
    explainer.spotlight_action.setChecked(True)
    spin(lambda: False, 1.0)
    explainer.grab().save(str(OUT / "explain-span.png"))
    explainer.spotlight_action.setChecked(False)
    weights = explainer.explanation.weights()[red]
    strongest = max(range(1, len(weights)), key=lambda i: weights[i])
    explainer.select_region(strongest)
    spin(lambda: False, 1.0)
    explainer.grab().save(str(OUT / "explain-region.png"))
    print(f"explained {name} with {explainer.explanation.method}: {explainer.method_label.text()}")


def main() -> int:
    if sys.argv[1:2] == ["--demo"]:
        return demo_search(Path(sys.argv[2]).expanduser().resolve())
    # Paths show in the pictures (the sidebar, the detail pane, the demo's log): a neutral home
    # keeps this machine's out of them.
    home = Path(os.environ.get("DCLIP_SCREENS_HOME") or tempfile.mkdtemp(prefix="dclip-screens-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DCLIP_HOME"] = str(home)
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb" if os.environ.get("DISPLAY") else "offscreen")
    sys.path.insert(0, str(REPO))
    # The bundle is exported in a child process: the app process stays torch-free.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from dclip_core.export import ensure_bundle; ensure_bundle('test-tiny')",
        ],
        check=True,
    )
    from PySide6.QtWidgets import QApplication

    from dclip_app.app import create_main_window
    from dclip_app.demo_setup import DemoSizes
    from dclip_app.main_window import FIRST_RUN_PAGE
    from dclip_app.settings_dialog import SettingsDialog
    from dclip_core.config import Settings, get_paths, save_settings

    photos = home / "Pictures"
    write_sample_photos(photos / "Holidays", 0)
    write_sample_photos(photos / "Science", 1)
    bundle = get_paths().bundles_dir / "test-tiny"
    # A random model scores everything alike; a low cutoff shows the separator in the picture.
    save_settings(Settings(model=str(bundle), execution_provider="cpu", relevance_sensitivity=0.3))
    OUT.mkdir(parents=True, exist_ok=True)

    app = QApplication(sys.argv[:1])
    window = started_window(app, 1360, 860)
    finished: list[str] = []
    window.service.index_finished.connect(finished.append)
    window.sidebar.add_requested.emit([photos / "Holidays", photos / "Science"])
    spin(lambda: finished)
    spin(lambda: window.service.reader.is_idle(), 10)
    # No picture of these results: a random model's search is noise (the README shows the
    # demo's, demo-search.png); the library is here for the dialogs that follow.

    dialog = SettingsDialog(window.settings, parent=window)
    dialog.show()
    spin(lambda: False, 0.5)
    dialog.grab().save(str(OUT / "settings-dialog.png"))
    dialog.close()

    window.confirm_close = lambda work: True  # type: ignore[method-assign]
    window.close()

    # A new user's window: the default model, not downloaded, so the first-run panel.
    save_settings(Settings(model="clip-vit-b-32", execution_provider="cpu"))
    window = create_main_window(app)
    window.resize(1100, 700)
    window.show()
    window.start()
    panel = window.first_run
    spin(lambda: False, 0.5)
    assert window.pages.currentIndex() == FIRST_RUN_PAGE
    window.grab().save(str(OUT / "first-run.png"))

    # "Try the demo" while it builds: the real build, small enough to reach training quickly,
    # captured once its first steps are logged, then cancelled.
    panel.demo_sizes = DemoSizes(400, pretrain_scenes=64, finetune_scenes=1, test_scenes=12)
    panel.start_demo()
    spin(lambda: "step 20/400" in panel.demo_log.toPlainText(), 180)
    window.grab().save(str(OUT / "first-run-demo.png"))
    panel.cancel()
    spin(lambda: not panel.busy, 60)

    window.confirm_close = lambda work: True  # type: ignore[method-assign]
    window.close()
    shutil.rmtree(home, ignore_errors=True)
    print(f"wrote {', '.join(sorted(p.name for p in OUT.glob('*.png')))} into {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
