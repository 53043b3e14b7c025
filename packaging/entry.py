"""Entry point of the PyInstaller builds: the same script is frozen as ``dclip`` and ``dclip-app``.

1. ``multiprocessing.freeze_support()`` first, so a child started by multiprocessing (data loader
   workers on Windows and macOS) runs its task instead of a second copy of the program;
2. the executable's name says which program it is; a hidden first argument
   (``dclip_core.config.processes``) overrides it, which is how the app runs ``dclip export`` or
   ``dclip demo`` as a child process of the same executable;
3. ``__dclip-app-check__`` runs the offscreen self-check of packaging/app_check.py (smoke.sh);
4. in the slim build a command that needs torch says which build has it instead of a traceback.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

APP_CHECK = "__dclip-app-check__"
TORCH_MODULES = frozenset({"torch", "torchvision", "open_clip", "ultralytics", "onnxscript"})
SLIM_MESSAGE = (
    "{program}: this is the slim build of DCLIP, without torch ({missing} is not included).\n"
    "Search, explain and annotate work here; exporting a model, training, fine-tuning and\n"
    "the demo need torch: use the full build (dclip-full-<version>-<platform>), or install\n"
    "DCLIP with pip (`pip install dclip-<version>-py3-none-any.whl`), which brings torch."
)


def main() -> int:
    multiprocessing.freeze_support()
    from dclip_core.config.processes import route_frozen

    name = Path(sys.executable).stem
    program, argv = route_frozen("app" if name.startswith("dclip-app") else "cli", sys.argv[1:])
    try:
        if argv[:1] == [APP_CHECK]:
            from app_check import main as check_app

            return check_app(argv[1:])
        if program == "app":
            from dclip_app.__main__ import main as app_main

            return app_main(argv)
        from dclip_core.cli import run

        sys.argv = ["dclip", *argv]
        run()
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in TORCH_MODULES:
            raise
        print(SLIM_MESSAGE.format(program=name, missing=missing), file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
