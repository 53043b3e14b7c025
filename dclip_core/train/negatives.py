"""Hard-negative captions: the same words with one binding swapped (torch-free).

Contrastive training only ever compares a caption with the *other* photos' captions of its batch,
which almost never differ from it in one binding alone, so CLIP-style models learn captions as
bags of words: "a red cube left of a blue ball" and "a blue cube left of a red ball" score alike
(Yuksekgonul et al., "When and why vision-language models behave like bags-of-words", ICLR 2023).
Their remedy, NegCLIP, adds to each caption a perturbed copy that must score *below* it.

Here a caption's hard negative swaps one thing a photo can contradict:

- ``attribute``: two different words of one kind (colours, sizes) trade places — "a *red* circle
  left of a *blue* star" → "a *blue* circle left of a *red* star";
- ``relation``: a spatial relation turns into its opposite — "left of" → "right of", "above" →
  "below", "in front of" → "behind" (two objects in the other order).

The choice among a caption's possible swaps is a pure function of its text (a CRC of it), so a
resumed run sees the same negatives as an uninterrupted one. A caption with nothing to swap has
no negative (None), and the loss skips it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator

# Words of one kind a photo shows, so swapping two of them is a claim the photo contradicts.
ATTRIBUTE_KINDS: dict[str, tuple[str, ...]] = {
    "colour": (
        "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
        "black", "white", "grey", "gray", "violet", "cyan", "magenta", "gold", "silver",
    ),
    "size": ("small", "large", "big", "little", "tiny", "huge", "tall", "short"),
}  # fmt: skip

# Relations and their opposites (both directions are listed; longest phrase first when matched).
OPPOSITE_RELATIONS: dict[str, str] = {
    "left of": "right of",
    "right of": "left of",
    "to the left of": "to the right of",
    "to the right of": "to the left of",
    "above": "below",
    "below": "above",
    "on top of": "underneath",
    "underneath": "on top of",
    "in front of": "behind",
    "behind": "in front of",
    "inside": "outside",
    "outside": "inside",
}

_WORD = re.compile(r"[A-Za-z]+")
_RELATION = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, OPPOSITE_RELATIONS), key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)


def _match_case(word: str, like: str) -> str:
    return word.capitalize() if like[:1].isupper() else word


def _attribute_swaps(caption: str) -> Iterator[str]:
    """Every caption made by trading two different words of one attribute kind."""
    words = list(_WORD.finditer(caption))
    for vocabulary in ATTRIBUTE_KINDS.values():
        found = [m for m in words if m.group().lower() in vocabulary]
        for i, first in enumerate(found):
            for second in found[i + 1 :]:
                if first.group().lower() == second.group().lower():
                    continue
                yield (
                    caption[: first.start()]
                    + _match_case(second.group().lower(), first.group())
                    + caption[first.end() : second.start()]
                    + _match_case(first.group().lower(), second.group())
                    + caption[second.end() :]
                )


def _relation_flips(caption: str) -> Iterator[str]:
    """Every relation phrase of ``caption`` turned into its opposite, all at once.

    Flipping every occurrence keeps a chain ("a left of b left of c") consistent: the negative
    says the order is reversed, which the photo contradicts, instead of a self-contradiction.
    """
    if _RELATION.search(caption):
        yield _RELATION.sub(
            lambda m: _match_case(OPPOSITE_RELATIONS[m.group().lower()], m.group()), caption
        )


def candidate_negatives(caption: str) -> list[str]:
    """Every hard negative of ``caption`` (attribute swaps, then the relation flip), distinct."""
    seen: dict[str, None] = {}
    for negative in (*_attribute_swaps(caption), *_relation_flips(caption)):
        if negative != caption:
            seen.setdefault(negative, None)
    return list(seen)


def hard_negative(caption: str) -> str | None:
    """One hard negative of ``caption``, the same on every call; None when there is none."""
    candidates = candidate_negatives(caption)
    if not candidates:
        return None
    return candidates[zlib.crc32(caption.encode("utf-8")) % len(candidates)]
