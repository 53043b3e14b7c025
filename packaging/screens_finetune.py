"""Pictures of the fine-tune wizard, one per page, from a real (tiny) run.

::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python packaging/screens_finetune.py [OUT]

writes ``finetune-1-data.png`` … ``finetune-6-activate.png`` (default: docs/screenshots). Every
file lives under a temporary home folder (``HOME`` and ``DCLIP_HOME`` point into it), so the paths
in the pictures read ``~/Pictures/captioned``, never this machine's. The data is 32 generated
shapes scenes with captions; the model is the random-init ``test-tiny`` with a recipe that takes
seconds, so the numbers are real but mean nothing; the library holds the same photos so "Use the
fine-tuned model" embeds them.

``screens_finetune.py --demo DEMO_HOME [OUT]`` instead fine-tunes the demo's trained model
(``dclip demo``) on the demo library's captioned photos with the recipe of docs/benchmarks.md,
"Fine-tuning" (custom values on the Recipe page, hard negatives on; about 6 minutes on 2 cores),
so the Evaluate page shows what fine-tuning did to a model that means something. The demo home
is copied into the temporary home first (activation switches the copy's model, never the
original's, and its paths read ``~/.local/share/…``).
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
    from dclip_app.finetune.recipe_page import RecipePage

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "screenshots"
SIZE = (900, 700)
_APP: object = None
# The demo's model on its 1000 captioned photos, the run of docs/benchmarks.md ("Fine-tuning").
# The Recipe page shows its values as custom ones (_demo_recipe); they are passed here as well, so
# that the Check page, which comes first, measures the estimate with them.
DEMO = [
    "--regions", "gt", "--no-explain", "--held-out", "0.25", "--set", "precision=fp32",
    "--set", "data.val_fraction=0", "--set", "teacher.lr=1e-3", "--set", "teacher.batch_size=32",
    "--set", "teacher.epochs=1000", "--set", "student.lr=1e-4", "--set", "student.batch_size=32",
    "--set", "student.grad_accum=1", "--set", "student.epochs=1000", "--teacher-steps", "100",
    "--set", "student.trainable=all", "--set", "student.w_neg=1", "--student-steps", "1500",
]  # fmt: skip
# test-tiny in seconds: ground-truth regions, small batches, few epochs, no explain/ export.
TINY = [
    "--regions", "gt", "--no-explain", "--set", "precision=fp32", "--set", "checkpoint_every=4",
    "--set", "teacher.batch_size=8", "--set", "teacher.epochs=20", "--set", "teacher.lr=3e-3",
    "--set", "student.batch_size=8", "--set", "student.epochs=40", "--set", "student.lr=1e-4",
]  # fmt: skip


def spin(condition: Callable[[], object], seconds: float = 120) -> None:
    """Run the Qt event loop until ``condition()`` holds or ``seconds`` pass."""
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def _prepare(home: Path) -> tuple[Path, Path]:
    """The captioned photos, the test-tiny bundle, and a library of the photos searched with it."""
    photos = home / "Pictures" / "captioned"
    script = (
        "import sys; from pathlib import Path;"
        "from dclip_core.shapes.scenes import write_shapes_dataset;"
        "from dclip_core.export import ensure_bundle;"
        "write_shapes_dataset(Path(sys.argv[1]), 32, seed=5, image_size=128);"
        "print(ensure_bundle('test-tiny'))"
    )
    # Torch stays out of this process, as in the app: the export runs in a child.
    done = subprocess.run(
        [sys.executable, "-c", script, str(photos)], check=True, capture_output=True, text=True
    )
    bundle = Path(done.stdout.strip().splitlines()[-1])
    from dclip_core.config import Settings, save_settings

    save_settings(Settings(model=str(bundle), execution_provider="cpu", threads=1))
    subprocess.run(
        [sys.executable, "-m", "dclip_core", "index", str(photos)], check=True, capture_output=True
    )
    return photos, bundle


def finetune_screens(
    out: Path = OUT, home: Path | None = None, demo: Path | None = None
) -> list[Path]:
    """Drive the wizard through a real run and save one picture of each page in ``out``.

    Args:
        out: the folder the PNGs go to.
        home: the home folder to work in (default: a new temporary one); its paths show as ``~``.
        demo: a demo home (``dclip demo``): fine-tune its model on its captioned photos instead
            of ``test-tiny`` on generated ones.

    Returns:
        The six pictures, in page order.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb" if os.environ.get("DISPLAY") else "offscreen")
    sys.path.insert(0, str(REPO))
    home = home or Path(tempfile.mkdtemp(prefix="dclip-finetune-screens-")) / "user"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(home)
    if demo is not None:
        copy = home / ".local" / "share" / "dclip" / "demo"
        shutil.copytree(demo, copy, symlinks=True)
        os.environ["DCLIP_HOME"] = str(copy)
        photos, extra, kind = copy / "world" / "test", DEMO, "shapes"
    else:
        os.environ["DCLIP_HOME"] = str(home / ".dclip")
        (photos, _), extra, kind = _prepare(home), TINY, "folder"

    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    from dclip_app.finetune import FinetuneWizard
    from dclip_app.finetune.data_sources import DataChoice
    from dclip_app.finetune.run_state import RunStatus
    from dclip_app.resources import icon, stylesheet
    from dclip_core.config import load_settings

    global _APP
    # Module-level: a QApplication dropped when this function returns takes Qt down under the
    # objects Python still holds, and the interpreter aborts at exit.
    _APP = QApplication.instance() or QApplication(sys.argv[:1])
    app = _APP
    assert isinstance(app, QApplication)
    app.setStyleSheet(stylesheet())
    app.setWindowIcon(icon("dclip"))
    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []

    wizard = FinetuneWizard(load_settings(), [photos], extra_args=extra)
    wizard.resize(*SIZE)
    wizard.show()

    def shoot(name: str, settle: float = 0.5) -> None:
        spin(lambda: False, settle)
        path = out / f"finetune-{len(shots) + 1}-{name}.png"
        wizard.grab().save(str(path))
        shots.append(path)

    wizard.data_page.set_choice(DataChoice(kind, photos))
    shoot("data")
    wizard.next()
    spin(lambda: wizard.check_page.report is not None)
    shoot("check")
    wizard.next()
    if demo is not None:
        _demo_recipe(wizard.recipe_page)
    shoot("recipe")
    wizard.next()
    state = lambda: wizard.context.state  # noqa: E731 - replaced when the run starts
    # The demo's student runs 1500 steps: show a stretch of its loss, not its first steps.
    steps = 300 if demo is not None else 4
    spin(lambda: len(state().loss_points("student")) >= steps, 600)
    shoot("train", 0.3)
    spin(lambda: state().status is RunStatus.FINISHED and wizard.train_page.isComplete(), 1200)
    wizard.next()
    shoot("evaluate")
    wizard.next()
    wizard.activate_page.activate_button.click()
    spin(lambda: wizard.activate_page.busy_with is None and wizard.activate_page.result, 300)
    shoot("activate")
    wizard.close()
    # Delete the wizard while Qt still runs: left to interpreter exit, PySide6 may abort.
    wizard.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()
    return shots


def _demo_recipe(page: RecipePage) -> None:
    """The Recipe page's custom values of the demo run (docs/benchmarks.md, "Fine-tuning")."""
    page.select("custom")
    page.teacher_steps.setValue(100)
    page.student_steps.setValue(1500)
    page.teacher_lr.setText("1e-3")
    page.student_lr.setText("1e-4")
    page.batch.setValue(32)
    page.held_out.setValue(0.25)
    page.regions.setCurrentIndex(page.regions.findData("gt"))
    page.trainable.setCurrentIndex(page.trainable.findData("all"))
    page.hard_negatives.setChecked(True)


if __name__ == "__main__":
    args = sys.argv[1:]
    demo_home = Path(args.pop(1)).resolve() if args[:1] == ["--demo"] else None
    args = [a for a in args if a != "--demo"]
    target = Path(args[0]).resolve() if args else OUT
    for picture in finetune_screens(target, demo=demo_home):
        print(picture, flush=True)
