"""Exceptions a user can act on.

Every error that reaches the command line or the app is a :class:`DclipError`: its message says what
failed, on which file, and what to do. The CLI prints it on one line and exits non-zero.
"""

from __future__ import annotations

import os


class DclipError(Exception):
    """Base class of the errors DCLIP reports to the user (one line, no traceback)."""

    exit_code = 1


class ConfigError(DclipError):
    """A settings file or a path setting is unusable."""


class UnknownModelError(DclipError):
    """A model name that is not in the registry."""


class WeightsMissingError(DclipError):
    """Weights of a model are not in the cache and could not be downloaded."""


class DownloadError(DclipError):
    """A download failed, was truncated or did not match its expected hash."""


class NetworkUnavailableError(DownloadError):
    """No URL of a download could be reached (offline, DNS failure, refused, timed out)."""


class DownloadCancelledError(DownloadError):
    """The user cancelled a download; nothing was written."""

    exit_code = 130


class WeightsError(DclipError):
    """A weights file is unreadable, does not fit its model, or is not the pinned file."""


class BundleError(DclipError):
    """A model bundle is missing, of another format version, tampered with, or unreadable."""


class ExportError(DclipError):
    """ONNX export failed."""


class ExecutionProviderError(DclipError):
    """The requested ONNX Runtime execution provider (CPU/CUDA) or its settings cannot be used."""


class ImageDecodeError(DclipError):
    """An image file cannot be opened or decoded; ``reason`` is the short cause to record."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"cannot read image {os.fspath(path)!r}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


class LibraryError(DclipError):
    """The photo library database or index cannot be used."""


class LibraryLockedError(LibraryError):
    """Another process holds the library for writing."""


class TrainingError(DclipError):
    """A training run cannot start or had to stop."""


class DatasetError(DclipError):
    """A dataset file (captions JSON, CSV, TSV) cannot be read as the format it was given as."""


class DemoError(DclipError):
    """The offline demo could not be built or opened."""


class DemoCancelledError(DemoError):
    """The user stopped the demo build; a later build goes on from what was finished."""

    exit_code = 3
