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
  "below", "in front of" → "behind";
- ``order``: two things of a chain of relations trade places — "a red circle left of a blue star"
  → "a blue star left of a red circle" — or two items of a list read in one direction ("from left
  to right: …"). The same words in another order: only a text model that reads word order tells
  the two apart, which a relation flip (new words) does not ask of it. On the shapes world these
  are what lifts held-out hard-negative accuracy (docs/adr/0025-hard-negatives.md).

Which of a caption's negatives a step uses is a pure function of its text and the epoch (a CRC,
plus one per epoch), so a resumed run sees the same negatives as an uninterrupted one and each
epoch brings the next. A caption with nothing to swap has no negative (None); the loss skips it.
"""

from __future__ import annotations

import itertools
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


def _with_initial(phrase: str, like: str) -> str:
    """``phrase`` with its first letter in the case of ``like``'s (a phrase moving to the start of
    a sentence is capitalised, one leaving it is not); the rest is kept as written."""
    initial = phrase[:1].upper() if like[:1].isupper() else phrase[:1].lower()
    return initial + phrase[1:]


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


# A noun phrase as captions write them: an article or a count, then words up to a boundary.
_ARTICLE = r"(?:a|an|the|one|two|three|four|five|some)"
_PHRASE_START = re.compile(rf"\b{_ARTICLE}\b", re.IGNORECASE)
_PHRASE_END = re.compile(r",|;|\.|\band\b|\bwith\b|\bwhile\b|\bnext to\b", re.IGNORECASE)
# "from left to right: a, b and c": a list whose items are in the photo's order.
_ORDERED_LIST = re.compile(
    r"\b(from (?:left to right|right to left|top to bottom|bottom to top)\s*:?\s*)(.+)$",
    re.IGNORECASE,
)
_LIST_SEPARATOR = re.compile(r"(,\s*(?:and\s+)?|\s+and\s+)")


def _joined_phrases(caption: str) -> Iterator[tuple[int, int, int, int]]:
    """(start, end) of the noun phrases before and after each relation of ``caption``.

    The phrase before runs from its last article to the relation, the phrase after from the
    article that opens it to the next relation or boundary; a relation without an article-led
    phrase on both sides ("sitting left of it") joins nothing we can swap.
    """
    relations = list(_RELATION.finditer(caption))
    for k, relation in enumerate(relations):
        before_from = relations[k - 1].end() if k else 0
        before = caption[before_from : relation.start()]
        starts = list(_PHRASE_START.finditer(before))
        if not starts or _PHRASE_END.search(before[starts[-1].start() :]):
            continue
        after_to = relations[k + 1].start() if k + 1 < len(relations) else len(caption)
        after = caption[relation.end() : after_to]
        if not _PHRASE_START.match(after.lstrip()):
            continue
        lead = len(after) - len(after.lstrip())
        end = _PHRASE_END.search(after, lead)
        stop = end.start() if end else len(after)
        left = (before_from + starts[-1].start(), relation.start())
        right = (relation.end() + lead, relation.end() + len(after[:stop].rstrip()))
        yield (*_trimmed(caption, *left), *_trimmed(caption, *right))


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _relation_flips(caption: str) -> Iterator[str]:
    """Every relation phrase of ``caption`` turned into its opposite, all at once.

    Flipping every occurrence keeps a chain ("a left of b left of c") consistent: the negative
    says the order is reversed, which the photo contradicts, instead of a self-contradiction.
    """
    joined = [
        caption[a:b].lower() == caption[c:d].lower() for a, b, c, d in _joined_phrases(caption)
    ]
    if joined and all(joined):
        return  # "a red circle left of a red circle": flipped, it says the same
    if _RELATION.search(caption):
        yield _RELATION.sub(
            lambda m: _match_case(OPPOSITE_RELATIONS[m.group().lower()], m.group()), caption
        )


def _chains(caption: str) -> Iterator[list[tuple[int, int]]]:
    """The phrases of each chain of relations, in order: "a left of b left of c" is one chain of
    three, "a on b, c behind d" two chains of two."""
    chain: list[tuple[int, int]] = []
    for a_start, a_end, b_start, b_end in _joined_phrases(caption):
        if chain and chain[-1] != (a_start, a_end):
            yield chain
            chain = []
        if not chain:
            chain.append((a_start, a_end))
        chain.append((b_start, b_end))
    if chain:
        yield chain


def _ordered_items(caption: str) -> list[tuple[int, int]]:
    """The items of a list read in one direction ("from left to right: a, b and c")."""
    listed = _ORDERED_LIST.search(caption)
    if listed is None:
        return []
    body = listed.group(2).rstrip(". ")
    offset = listed.start(2)
    items: list[tuple[int, int]] = []
    position = 0
    for separator in _LIST_SEPARATOR.finditer(body):
        items.append((offset + position, offset + separator.start()))
        position = separator.end()
    items.append((offset + position, offset + len(body)))
    return items


def _order_swaps(caption: str) -> Iterator[str]:
    """Every caption made by trading two different phrases of a chain of relations, or two
    different items of an ordered list (each group's phrases in order, not overlapping)."""
    for group in (*_chains(caption), _ordered_items(caption)):
        for (a_start, a_end), (b_start, b_end) in itertools.combinations(group, 2):
            first, second = caption[a_start:a_end], caption[b_start:b_end]
            if first.lower() != second.lower():
                yield (
                    caption[:a_start]
                    + _with_initial(second, first)
                    + caption[a_end:b_start]
                    + _with_initial(first, second)
                    + caption[b_end:]
                )


def candidate_negatives(caption: str) -> list[str]:
    """Every hard negative of ``caption`` (attribute swaps, the relation flip, then order swaps),
    distinct."""
    seen: dict[str, None] = {}
    for negative in (*_attribute_swaps(caption), *_relation_flips(caption), *_order_swaps(caption)):
        if negative != caption:
            seen.setdefault(negative, None)
    return list(seen)


def hard_negative(caption: str, draw: int = 0) -> str | None:
    """One hard negative of ``caption``; the same for the same ``draw`` (an epoch: each epoch
    takes the next of the caption's candidates). None when there is none."""
    candidates = candidate_negatives(caption)
    if not candidates:
        return None
    return candidates[(zlib.crc32(caption.encode("utf-8")) + draw) % len(candidates)]
