"""Character offsets of caption spans between Python and Qt (Qt-free).

The library stores a span link as ``[start, end)`` in Python characters (code points); Qt's text
widgets count UTF-16 units, where an emoji or a rare CJK character takes two. Converting at the
view keeps "🐈 on a mat" linking the word the user selected.
"""

from __future__ import annotations


def to_utf16(text: str, index: int) -> int:
    """The UTF-16 offset of Python character ``index`` of ``text``."""
    return index + sum(1 for c in text[:index] if ord(c) > 0xFFFF)


def from_utf16(text: str, offset: int) -> int:
    """The Python character index at UTF-16 ``offset`` of ``text`` (rounded down mid-pair)."""
    units = 0
    for index, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > offset:
            return index
        units += width
    return len(text)


def trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` without surrounding spaces and punctuation a double-click takes along."""
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return start, end
