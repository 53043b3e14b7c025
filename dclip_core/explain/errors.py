"""Errors of the explain runtime: one line a user can act on (shown by ``dclip explain``)."""

from __future__ import annotations

from dclip_core.errors import DclipError


class ExplainError(DclipError):
    """An explanation cannot be made: bad photo, empty query, a method the bundle cannot run."""


class ExplainCancelledError(ExplainError):
    """The caller's cancel token was set; the explanation stopped between two model runs."""
