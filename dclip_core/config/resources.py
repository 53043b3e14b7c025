"""The files DCLIP ships beside its code: icons, the stylesheet, the desktop entry, the metainfo.

They live in the top-level ``resources/`` folder of the source tree and are installed as the
import package ``dclip_resources`` (setup.py maps the name; ADR 0018). Every installation finds
them the same way, through ``importlib.resources``:

1. a wheel or an editable install: the package's folder in site-packages, or setuptools' editable
   finder pointing at ``resources/`` in the checkout;
2. a PyInstaller build: the frozen importer's folder under the bundle (``packaging/dclip.spec``
   collects the package's data files).

Qt and the desktop integration need real files, so a resource is returned as a ``Path``; an
installation that serves the package from a zip file is refused with a message rather than
silently unstyled.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

from dclip_core.errors import ConfigError

RESOURCES_PACKAGE = "dclip_resources"
APP_ID = "org.dclip.DCLIP"
"""Reverse-DNS id of the application: the desktop entry's, the metainfo's and the icon's name."""


def resources_dir() -> Path:
    """The installed resources folder.

    Raises:
        ConfigError: the package is not installed (a bare checkout without ``pip install -e .``)
            or is not a folder on disk.
    """
    try:
        root = importlib.resources.files(RESOURCES_PACKAGE)
    except ModuleNotFoundError:
        raise ConfigError(
            f"DCLIP's resources (the package {RESOURCES_PACKAGE}) are not installed: install "
            "DCLIP (`pip install dclip`, or `pip install -e .` / `make install` in a checkout)"
        ) from None
    if isinstance(root, Path) and root.is_dir():
        return root
    # PyInstaller keeps the package's code in its archive and its data files in a folder, and
    # answers with a MultiplexedPath over both: the folder is the package's search location.
    spec = importlib.util.find_spec(RESOURCES_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():
            return Path(location)
    raise ConfigError(
        f"DCLIP's resources are not a folder on disk ({root}): install DCLIP unzipped"
    )


def resource_path(relative: str) -> Path:
    """The path of the shipped file ``relative`` (``"style.qss"``, ``"icons/search.svg"``).

    The file may be missing (callers decide whether that is fatal); the folder may not be.
    """
    return resources_dir().joinpath(*relative.split("/"))
