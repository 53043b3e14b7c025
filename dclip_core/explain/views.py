"""Which attention to show, and how it is computed from the stored maps (numpy only, no model).

An :class:`~dclip_core.explain.types.Explanation` keeps every layer and head of both directions.
A :class:`AttentionView` picks one ``[rows, columns]`` matrix out of them:

- a layer (``layer=0``, ``-1`` for the last) and one head or the mean of the heads;
- ``layer="rollout"``: attention rollout (Abnar & Zuidema, 2020) over the layers, adapted to the
  bidirectional teacher. Spans and regions form one graph; per layer its adjacency is
  ``[[0, text→region], [region→text, 0]]`` (heads averaged), the residual adds the identity and
  ``0.5·A + 0.5·I`` is multiplied over the layers. The span rows' region block of the product,
  renormalised over regions, is how much of each region has reached each span through every path
  (a region that reached a span through another span included). With one layer it equals that
  layer's map.

Hiding regions (``hidden_regions``) zeroes their columns and renormalises the rows over the rest,
so a row still sums to one over what is shown. For a single layer this is exactly what masking
those regions in the softmax would give.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Direction = Literal["text_to_region", "region_to_text"]
DIRECTIONS: tuple[Direction, ...] = ("text_to_region", "region_to_text")


@dataclass(frozen=True)
class AttentionView:
    """A choice of one attention matrix.

    Attributes:
        direction: ``text_to_region`` (rows: spans, columns: regions; each row sums to 1) or
            ``region_to_text`` (rows: regions, columns: spans).
        layer: a layer index (negative counts from the last) or ``"rollout"`` over all layers.
        head: a head index, or None for the mean of the heads (rollout always averages heads).
        hidden_regions: region indices left out; rows are renormalised over the rest.
    """

    direction: Direction = "text_to_region"
    layer: int | Literal["rollout"] = -1
    head: int | None = None
    hidden_regions: frozenset[int] = frozenset()


def select(
    text_to_region: np.ndarray, region_to_text: np.ndarray, view: AttentionView
) -> np.ndarray:
    """The matrix ``view`` picks from ``[layers, heads, Nt, Nr]`` and ``[layers, heads, Nr, Nt]``.

    Raises:
        ValueError: a layer or head out of range, head given with rollout, unknown direction.
    """
    if view.direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {view.direction!r}; expected one of {DIRECTIONS}")
    layers, heads, _n_text, n_regions = text_to_region.shape
    if view.head is not None and not -heads <= view.head < heads:
        raise ValueError(f"head {view.head} does not exist; this method has heads 0..{heads - 1}")
    if view.layer == "rollout":
        if view.head is not None:
            raise ValueError("rollout averages the heads; leave the head unset")
        matrix = rollout(text_to_region, region_to_text, view.direction)
    else:
        if not -layers <= view.layer < layers:
            raise ValueError(
                f"layer {view.layer} does not exist; this method has layers 0..{layers - 1}"
            )
        maps = text_to_region if view.direction == "text_to_region" else region_to_text
        per_head = maps[view.layer]
        matrix = per_head.mean(axis=0) if view.head is None else per_head[view.head]
    matrix = np.asarray(matrix, dtype=np.float32)
    if view.hidden_regions:
        matrix = hide_regions(matrix, view.hidden_regions, n_regions, view.direction)
    return matrix


def rollout(
    text_to_region: np.ndarray, region_to_text: np.ndarray, direction: Direction
) -> np.ndarray:
    """Attention rollout over the layers of the bipartite span/region graph (module docstring)."""
    layers, _, n_text, n_regions = text_to_region.shape
    size = n_text + n_regions
    total = np.eye(size, dtype=np.float64)
    for layer in range(layers):
        adjacency = np.zeros((size, size), dtype=np.float64)
        adjacency[:n_text, n_text:] = text_to_region[layer].mean(axis=0)
        adjacency[n_text:, :n_text] = region_to_text[layer].mean(axis=0)
        total = (0.5 * adjacency + 0.5 * np.eye(size)) @ total
    block = total[:n_text, n_text:] if direction == "text_to_region" else total[n_text:, :n_text]
    sums = block.sum(axis=1, keepdims=True)
    return (block / np.where(sums > 0, sums, 1.0)).astype(np.float32)


def hide_regions(
    matrix: np.ndarray, hidden: frozenset[int], n_regions: int, direction: Direction
) -> np.ndarray:
    """Zero the hidden regions and renormalise ``text_to_region`` rows over the shown ones.

    In ``region_to_text`` the hidden regions' rows become zeros (their rows describe them).
    """
    bad = [i for i in hidden if not 0 <= i < n_regions]
    if bad:
        raise ValueError(f"regions {sorted(bad)} do not exist; there are {n_regions}")
    shown = np.ones(n_regions, dtype=bool)
    shown[list(hidden)] = False
    out = matrix.copy()
    if direction == "region_to_text":
        out[~shown] = 0.0
        return out
    out[:, ~shown] = 0.0
    sums = out.sum(axis=1, keepdims=True)
    return out / np.where(sums > 0, sums, 1.0)
