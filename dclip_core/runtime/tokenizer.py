"""The CLIP byte-level BPE tokenizer, without torch.

It produces exactly the token ids of open_clip's ``SimpleTokenizer`` (the tokenizer of every OpenAI
CLIP model): the same text cleaning, the same pre-tokenising pattern, the same merges read from the
gzipped vocabulary file, start/end tokens, truncation that keeps the end token last, zero padding.
Exported bundles ship the vocabulary file, so search can tokenise a query without importing torch.
"""

from __future__ import annotations

import functools
import gzip
import html
import importlib.util
import itertools
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import regex

from dclip_core.errors import BundleError

DEFAULT_CONTEXT_LENGTH = 77
VOCAB_FILENAME = "bpe_simple_vocab_16e6.txt.gz"

# CLIP's vocabulary is 49408 entries: 256 byte symbols, the same 256 as word ends, the merges, and
# the two special tokens; so only the first 49408 - 512 - 2 merges of the file are used.
_VOCAB_SIZE = 49408
_MERGE_COUNT = _VOCAB_SIZE - 2 * 256 - 2
_START_TOKEN = "<start_of_text>"
_END_TOKEN = "<end_of_text>"
_WORD_END = "</w>"
# Entries beyond this are dropped at once; captions and queries reuse a few thousand words, so the
# cache stays hot while a pathological input (random strings) cannot grow memory without bound.
_BPE_CACHE_LIMIT = 200_000

# The pre-tokeniser: special tokens, English contractions, letter runs, single digits, and runs of
# anything else that is not whitespace. IGNORECASE matters only for the contractions (CLIP's own
# pattern has it); the text is lower-cased before matching anyway.
_PRETOKEN_PATTERN = regex.compile(
    r"<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
    regex.IGNORECASE,
)

# Merge lines: two symbols and one space each. Matched on the joined lines in one linear scan
# (the classes are disjoint, so there is no backtracking), far faster than a loop over 48k lines.
_MERGE_SECTION = re.compile(r"\S+ \S+(?:\n\S+ \S+)*")

# Texts that ftfy.fix_text returns unchanged, up to whitespace: printable ASCII without "&", plus
# tab and line breaks. Every ftfy fix needs something else to act on: a non-ASCII character
# (mojibake, ligatures, full-width forms, curly quotes, C1 controls, normalisation), an ASCII
# control character (terminal escapes, removed controls) or an HTML entity; "\r" becomes "\n",
# which the whitespace collapse in clean_text makes equal. Such texts (most queries) skip ftfy,
# whose import alone takes 0.05-0.2 s of a cold search.
_FTFY_INERT = re.compile(r"[\x20-\x25\x27-\x7e\t\n\r]*")


@functools.cache
def _byte_symbols() -> tuple[list[str], list[str]]:
    """Map each byte value to one printable character.

    Bytes that are visible Latin-1 characters stand for themselves; the others (control
    characters, space, soft hyphen...) are shifted to code points 256 and up, in order, so BPE
    never sees whitespace or control characters.

    Returns:
        ``(symbol_of_byte, vocabulary_order)``: the symbol of each byte value in byte order, and the
        same symbols in the order CLIP's vocabulary lists them (visible bytes first, then shifted).
    """
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    visible += range(ord("®"), ord("ÿ") + 1)
    visible_set = set(visible)
    hidden = [byte for byte in range(256) if byte not in visible_set]
    symbol_of_byte = [""] * 256
    for byte in visible:
        symbol_of_byte[byte] = chr(byte)
    for shifted, byte in enumerate(hidden):
        symbol_of_byte[byte] = chr(256 + shifted)
    vocabulary_order = [symbol_of_byte[byte] for byte in visible + hidden]
    return symbol_of_byte, vocabulary_order


def clean_text(text: str) -> str:
    """Normalise text as CLIP did before tokenising.

    Fixes mojibake (ftfy), unescapes HTML entities twice (captions scraped from the web are often
    double-escaped, ``&amp;amp;``), collapses whitespace and lower-cases.
    """
    if not _FTFY_INERT.fullmatch(text):
        import ftfy  # here, not at the top: most queries never need it (see _FTFY_INERT)

        text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return " ".join(text.split()).lower()


class ClipTokenizer:
    """CLIP's BPE tokenizer, id-for-id equal to open_clip's ``SimpleTokenizer``.

    Args:
        vocab_path: the gzipped merges file (``bpe_simple_vocab_16e6.txt.gz``), as shipped in a
            model bundle or inside open_clip (:meth:`default_vocab_path`).
        context_length: length of the rows :meth:`__call__` returns (77 for CLIP).

    Raises:
        BundleError: the vocabulary file is missing, unreadable or not a CLIP merges file.
    """

    def __init__(self, vocab_path: Path, context_length: int = DEFAULT_CONTEXT_LENGTH) -> None:
        if context_length < 2:
            raise ValueError(
                f"context_length must be >= 2 (start and end tokens), not {context_length}"
            )
        self.vocab_path = Path(vocab_path)
        self.context_length = context_length
        vocabulary = _load_vocabulary(self.vocab_path)
        self._id_to_token = vocabulary.id_to_token
        self._token_to_id = vocabulary.token_to_id
        self._merge_rank = vocabulary.merge_rank
        self._byte_symbol, _ = _byte_symbols()
        self._symbol_byte = {symbol: byte for byte, symbol in enumerate(self._byte_symbol)}
        self.sot_token_id = self._token_to_id[_START_TOKEN]
        self.eot_token_id = self._token_to_id[_END_TOKEN]
        # Keyed by the cleaned pre-token; the special tokens are already whole vocabulary entries.
        self._word_ids: dict[str, list[int]] = {}
        self._special_ids = {_START_TOKEN: [self.sot_token_id], _END_TOKEN: [self.eot_token_id]}

    @classmethod
    def default_vocab_path(cls) -> Path:
        """The vocabulary file packaged with open_clip, found without importing open_clip or torch.

        Raises:
            BundleError: open_clip is not installed, or its package lacks the file.
        """
        spec = importlib.util.find_spec("open_clip")
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        for location in locations:
            candidate = Path(location) / VOCAB_FILENAME
            if candidate.is_file():
                return candidate
        raise BundleError(
            f"the CLIP tokenizer vocabulary {VOCAB_FILENAME} was not found: open_clip_torch is not "
            "installed here; use the tokenizer file of a model bundle, "
            "or `pip install open_clip_torch`"
        )

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_token)

    def encode(self, text: str) -> list[int]:
        """BPE ids of ``text`` after cleaning, without start/end tokens and without truncation."""
        ids: list[int] = []
        for word in _PRETOKEN_PATTERN.findall(clean_text(text)):
            ids.extend(self._ids_of_word(word))
        return ids

    def words(self, text: str) -> list[tuple[str, list[int]]]:
        """Each pre-token of the cleaned text with its BPE ids, in order.

        Concatenating the id lists gives :meth:`encode` of the same text; phrase spans use this to
        map a word range of the caption onto a token range.
        """
        return [
            (word, list(self._ids_of_word(word)))
            for word in _PRETOKEN_PATTERN.findall(clean_text(text))
        ]

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Token rows for a batch: ``(len(texts), context_length)`` int64.

        Each row is start token, BPE ids, end token, then zeros. Longer texts are cut to the context
        length with the end token kept as the last id. A single ``str`` counts as a batch of one.
        """
        if isinstance(texts, str):
            texts = [texts]
        rows = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.sot_token_id, *self.encode(text), self.eot_token_id]
            if len(ids) > self.context_length:
                ids = ids[: self.context_length]
                ids[-1] = self.eot_token_id
            rows[row, : len(ids)] = ids
        return rows

    def decode(self, ids: Sequence[int]) -> str:
        """Text of BPE ids (as :meth:`encode` returns them); word ends become spaces.

        Like open_clip, special and padding ids are decoded literally, not dropped; bytes that do
        not form valid UTF-8 (a multi-byte character cut by truncation) become U+FFFD.
        """
        vocabulary = self._id_to_token
        token_ids = [int(token_id) for token_id in ids]
        # Checked first: a negative id would silently index from the end of the list.
        if token_ids and (min(token_ids) < 0 or max(token_ids) >= len(vocabulary)):
            bad = [i for i in token_ids if not 0 <= i < len(vocabulary)]
            raise ValueError(f"token ids outside the vocabulary (0..{len(vocabulary) - 1}): {bad}")
        symbols = "".join(vocabulary[token_id] for token_id in token_ids)
        raw = bytes(self._symbol_byte[symbol] for symbol in symbols)
        return raw.decode("utf-8", errors="replace").replace(_WORD_END, " ")

    def _ids_of_word(self, word: str) -> list[int]:
        cached = self._word_ids.get(word)
        if cached is not None:
            return cached
        special = self._special_ids.get(word)
        if special is not None:
            return special
        byte_word = "".join(self._byte_symbol[byte] for byte in word.encode("utf-8"))
        ids = [self._token_to_id[symbol] for symbol in self._merge_word(byte_word)]
        if len(self._word_ids) >= _BPE_CACHE_LIMIT:
            self._word_ids.clear()
        self._word_ids[word] = ids
        return ids

    def _merge_word(self, byte_word: str) -> list[str]:
        """Apply the BPE merges to one word of byte symbols; the last symbol carries the word end.

        At each step the adjacent pair with the lowest merge rank is merged everywhere it occurs,
        scanning left to right without overlaps, until no adjacent pair is a known merge.
        """
        symbols = [*byte_word[:-1], byte_word[-1] + _WORD_END]
        ranks = self._merge_rank
        while len(symbols) > 1:
            best_rank = -1
            best_pair: tuple[str, str] | None = None
            for pair in itertools.pairwise(symbols):
                rank = ranks.get(f"{pair[0]} {pair[1]}")
                if rank is not None and (best_pair is None or rank < best_rank):
                    best_rank, best_pair = rank, pair
            if best_pair is None:
                break
            first, second = best_pair
            merged: list[str] = []
            index = 0
            while index < len(symbols):
                if (
                    index + 1 < len(symbols)
                    and symbols[index] == first
                    and symbols[index + 1] == second
                ):
                    merged.append(first + second)
                    index += 2
                else:
                    merged.append(symbols[index])
                    index += 1
            symbols = merged
        return symbols


@dataclass(frozen=True)
class _Vocabulary:
    """The parsed vocabulary file; read-only, so tokenizers of one file share it."""

    id_to_token: list[str]
    token_to_id: dict[str, int]
    # Keyed by the file's own line, "first second": no per-line splitting at load time.
    merge_rank: dict[str, int]


def _load_vocabulary(vocab_path: Path) -> _Vocabulary:
    """Parse ``vocab_path``, or reuse the parse of the same unchanged file in this process."""
    try:
        stat = vocab_path.stat()
    except FileNotFoundError:
        raise BundleError(
            f"tokenizer vocabulary {vocab_path} does not exist; re-export the model bundle"
        ) from None
    except OSError as exc:
        raise BundleError(
            f"tokenizer vocabulary {vocab_path} is unreadable ({exc.strerror}); "
            "check its permissions or re-export the model bundle"
        ) from exc
    return _parse_vocabulary(vocab_path.resolve(), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _parse_vocabulary(vocab_path: Path, mtime_ns: int, size: int) -> _Vocabulary:
    """Read the merges (the file's first line is a header) and build the id tables.

    ``mtime_ns`` and ``size`` only key the cache, so a rewritten file is parsed again.
    """
    try:
        # In one piece: ~30% faster than reading through a GzipFile.
        text = gzip.decompress(vocab_path.read_bytes()).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise BundleError(
            f"tokenizer vocabulary {vocab_path} is unreadable ({exc}); re-export the model bundle"
        ) from exc
    merge_lines = text.split("\n", _MERGE_COUNT + 1)[1 : _MERGE_COUNT + 1]
    section = "\n".join(merge_lines)
    well_formed = len(merge_lines) == _MERGE_COUNT and _MERGE_SECTION.fullmatch(section)
    if not well_formed:
        raise BundleError(
            f"tokenizer vocabulary {vocab_path} does not hold the {_MERGE_COUNT} merges of a CLIP "
            "vocabulary file; re-export the model bundle"
        )
    _, base_symbols = _byte_symbols()
    tokens = base_symbols + [symbol + _WORD_END for symbol in base_symbols]
    tokens += section.replace(" ", "").split("\n")
    tokens += [_START_TOKEN, _END_TOKEN]
    return _Vocabulary(
        id_to_token=tokens,
        token_to_id=dict(zip(tokens, range(len(tokens)), strict=True)),
        merge_rank=dict(zip(merge_lines, range(_MERGE_COUNT), strict=True)),
    )
