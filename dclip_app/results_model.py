"""The list model behind the results grid.

Rows are search hits in order, with one twist: when results are sorted by relevance and some fall
below the adaptive relevance cutoff, the model inserts a *separator row* between the two groups.
The grid has uniform cells (which keeps layout O(1) for 100k results), so the separator is made of
cells too: spacer cells finish the last row of relevant results, then one row of separator cells
spans the grid's width and the delegate draws a rule with a caption across it. The view tells the
model how many columns it shows (:meth:`ResultsModel.set_columns`).

The model is a ``QStringListModel`` (of empty strings) on purpose: the icon-mode layout asks the
model for every row's index, and with a pure-Python ``rowCount`` that costs two Python calls per
result (seconds for 100k); here those calls stay in C++ and only visible cells reach Python.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QStringListModel, Qt

_Index = QModelIndex | QPersistentModelIndex


class SearchHit(Protocol):
    """What the grid needs of a search result (``dclip_core.library`` results have these)."""

    @property
    def image_id(self) -> int: ...
    @property
    def path(self) -> Path: ...
    @property
    def score(self) -> float: ...
    @property
    def rank(self) -> int: ...
    @property
    def relevant(self) -> bool: ...


class CellKind(enum.Enum):
    HIT = "hit"
    SPACER = "spacer"
    SEPARATOR = "separator"


HIT_ROLE = Qt.ItemDataRole.UserRole + 1
KIND_ROLE = Qt.ItemDataRole.UserRole + 2
SEPARATOR_COLUMN_ROLE = Qt.ItemDataRole.UserRole + 3


class ResultsModel(QStringListModel):
    """Search hits plus, when needed, the cells of the relevance separator."""

    def __init__(self) -> None:
        super().__init__()
        self._hits: list[SearchHit] = []
        self._relevant_count: int | None = None
        self._columns = 1
        self._pad = 0
        self._separator_cells = 0

    # --- filling -------------------------------------------------------------------------------

    def set_results(self, hits: Sequence[SearchHit], *, separate_irrelevant: bool) -> None:
        """Show ``hits`` (in display order); draw the cutoff separator when asked and meaningful.

        The separator goes after the leading run of relevant hits, and only when there are hits on
        both sides of it.
        """
        self._hits = list(hits)
        self._relevant_count = None
        if separate_irrelevant and self._hits:
            leading = 0
            for hit in self._hits:
                if not hit.relevant:
                    break
                leading += 1
            if 0 < leading < len(self._hits):
                self._relevant_count = leading
        self._recompute_layout()

    def set_columns(self, columns: int) -> None:
        """Tell the model how many cells fit in a grid row (the separator spans exactly one row)."""
        columns = max(1, columns)
        if columns == self._columns:
            return
        if self._relevant_count is None:
            self._columns = columns
            return
        self._columns = columns
        self._recompute_layout()

    def _recompute_layout(self) -> None:
        """Rebuild the rows (a model reset: views drop their selection)."""
        # Empty strings: names are computed in data() for the few visible cells only.
        names = [""] * len(self._hits)
        if self._relevant_count is None:
            self._pad = 0
            self._separator_cells = 0
        else:
            self._pad = (-self._relevant_count) % self._columns
            self._separator_cells = self._columns
            cut = self._relevant_count
            names[cut:cut] = [""] * (self._pad + self._separator_cells)
        self.setStringList(names)

    # --- lookups -------------------------------------------------------------------------------

    @property
    def hits(self) -> list[SearchHit]:
        return self._hits

    @property
    def columns(self) -> int:
        return self._columns

    @property
    def has_separator(self) -> bool:
        return self._relevant_count is not None

    @property
    def relevant_count(self) -> int:
        """How many hits are above the cutoff (all of them when there is no separator)."""
        return sum(1 for h in self._hits if h.relevant)

    def kind(self, row: int) -> CellKind:
        if self._relevant_count is None or row < self._relevant_count:
            return CellKind.HIT
        after_relevant = row - self._relevant_count
        if after_relevant < self._pad:
            return CellKind.SPACER
        if after_relevant < self._pad + self._separator_cells:
            return CellKind.SEPARATOR
        return CellKind.HIT

    def hit_at(self, row: int) -> SearchHit | None:
        """The hit shown at ``row``, or None for spacer/separator cells."""
        if not 0 <= row < self.rowCount():
            return None
        if self._relevant_count is None or row < self._relevant_count:
            return self._hits[row]
        shifted = row - self._pad - self._separator_cells
        if shifted < self._relevant_count:
            return None
        return self._hits[shifted]

    def row_of_hit(self, position: int) -> int:
        """Row of the ``position``-th hit (0-based, in display order)."""
        if self._relevant_count is None or position < self._relevant_count:
            return position
        return position + self._pad + self._separator_cells

    def separator_column(self, row: int) -> int:
        """Which cell of the separator row ``row`` is (0 = leftmost)."""
        assert self._relevant_count is not None
        return row - self._relevant_count - self._pad

    # --- Qt model API --------------------------------------------------------------------------

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid() or self.kind(index.row()) is not CellKind.HIT:
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        row = index.row()
        kind = self.kind(row)
        if role == KIND_ROLE:
            return kind
        if kind is CellKind.SEPARATOR and role == SEPARATOR_COLUMN_ROLE:
            return self.separator_column(row)
        hit = self.hit_at(row)
        if hit is None:
            return None
        if role == HIT_ROLE:
            return hit
        if role == Qt.ItemDataRole.DisplayRole:
            return os.path.basename(os.fspath(hit.path))
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip_for(hit)
        return None


def tooltip_for(hit: SearchHit) -> str:
    lines = [str(hit.path), f"score {hit.score:.3f} · rank {hit.rank}"]
    if not hit.relevant:
        lines.append("below the relevance cutoff")
    taken = getattr(hit, "date_taken", None)
    if isinstance(taken, datetime):
        lines.append(taken.strftime("%Y-%m-%d %H:%M"))
    return "\n".join(lines)
