"""The wizard's first page in data: which captioned photos to train on (Qt-free).

Each :class:`DataFormat` is one ``dclip finetune --data FORMAT=PATH[,images=DIR]`` format the
Data page offers, with the words the page shows; a :class:`DataChoice` is what the user picked and
becomes the ``--data`` spec (:meth:`DataChoice.spec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dclip_core.config.paths import get_paths


@dataclass(frozen=True)
class DataFormat:
    """One data format: its ``--data`` name, the words on the page, and what paths it needs.

    Attributes:
        key: the ``--data`` format name.
        label: the choice in the format list.
        hint: one line on what the files look like.
        path_label: what the path field asks for.
        pick_file: the path is a file (else a folder).
        needs_images: the format also needs the folder its images are in.
    """

    key: str
    label: str
    hint: str
    path_label: str
    pick_file: bool = False
    needs_images: bool = False


DATA_FORMATS: dict[str, DataFormat] = {
    f.key: f
    for f in (
        DataFormat(
            "library",
            "Annotations in my library",
            "the captions and boxes you added to photos in DCLIP (Annotate), from every folder "
            "or one",
            "Folder",
        ),
        DataFormat(
            "folder",
            "A folder of captioned photos",
            "photo.jpg with its caption in photo.txt beside it, or a captions.csv with file and "
            "caption columns",
            "Folder",
        ),
        DataFormat(
            "shapes",
            "A shapes-world folder",
            "captions.csv with scenes.json beside it (dclip demo's photos): its boxes become "
            "regions",
            "Folder",
        ),
        DataFormat(
            "coco",
            "COCO captions",
            "a captions_*.json annotation file and the folder of its images",
            "Annotation file",
            pick_file=True,
            needs_images=True,
        ),
        DataFormat(
            "flickr30k",
            "Flickr30k",
            "the results.csv caption file and the flickr30k_images folder",
            "Caption file",
            pick_file=True,
            needs_images=True,
        ),
        DataFormat(
            "karpathy",
            "Karpathy split (COCO / Flickr)",
            "a dataset_*.json split file and the folder of its images (its test photos are left "
            "out)",
            "Split file",
            pick_file=True,
            needs_images=True,
        ),
        DataFormat(
            "cc",
            "Conceptual Captions",
            "a .tsv of caption and file name, and the folder of the images",
            "Caption file",
            pick_file=True,
            needs_images=True,
        ),
    )
}

ALL_LIBRARY = "all"


@dataclass(frozen=True)
class DataChoice:
    """What the Data page holds.

    Attributes:
        format: a :data:`DATA_FORMATS` key.
        path: the folder or file (``library``: a photo folder, None for the whole library).
        images: the image folder of formats that need one.
    """

    format: str
    path: Path | None = None
    images: Path | None = None

    @property
    def data_format(self) -> DataFormat:
        return DATA_FORMATS[self.format]

    def problem(self) -> str | None:
        """Why this choice cannot be checked yet (one line), or None."""
        fmt = self.data_format
        if self.format == "library":
            library = get_paths().library_dir
            if not library.is_dir():
                return "the library is empty: add a folder and annotate some photos first"
            return None
        what = "file" if fmt.pick_file else "folder"
        if self.path is None or not str(self.path).strip():
            return f"choose the {fmt.path_label.lower()}"
        exists = self.path.is_file() if fmt.pick_file else self.path.is_dir()
        if not exists:
            return f"{self.path} is not a {what}"
        if fmt.needs_images and (self.images is None or not self.images.is_dir()):
            return "choose the folder its images are in"
        return None

    def spec(self) -> str:
        """The ``--data`` value (``library``: the whole library is its folder)."""
        if self.format == "library":
            path = self.path if self.path is not None else get_paths().library_dir
            return f"library={path}"
        spec = f"{self.format}={self.path}"
        if self.images is not None and self.data_format.needs_images:
            spec += f",images={self.images}"
        return spec


def guess_format(folder: Path) -> str:
    """``shapes`` for a folder with ``scenes.json`` and ``captions.csv``, else ``folder``."""
    if (folder / "scenes.json").is_file() and (folder / "captions.csv").is_file():
        return "shapes"
    return "folder"


def display_path(path: Path) -> str:
    """``path`` as people read it: under the home folder as ``~/…``."""
    try:
        return f"~/{path.relative_to(Path.home()).as_posix()}"
    except ValueError:
        return str(path)
