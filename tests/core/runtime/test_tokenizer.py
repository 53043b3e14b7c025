"""The torch-free tokenizer gives open_clip's ids, on text a user or a caption file may contain."""

from __future__ import annotations

import gzip
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dclip_core.errors import BundleError
from dclip_core.runtime.tokenizer import _FTFY_INERT, ClipTokenizer, clean_text

SCRIPT_WORDS = [
    # Latin with diacritics, Greek, Cyrillic, Arabic, Hebrew, Devanagari, Thai, CJK, kana, Hangul.
    "café", "Straße", "naïve", "ÉCOLE", "jalapeño", "Ørsted", "İstanbul", "ﬁnance",
    "φωτογραφία", "ΣΟΦΙΑ", "кошка", "МОСКВА", "قطة", "السلام", "חתול", "नमस्ते", "बिल्ली",
    "แมว", "猫", "一只猫坐在沙发上", "東京タワー", "ねこ", "カメラ", "고양이", "서울",
    "Ελλάδα", "ქართული", "Հայերեն", "ᚠᚢᚦ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "e\u0301", "ǅ", "ᴀʙᴄ",
]  # fmt: skip
EMOJI = [
    "🙂", "🐱", "📷", "🏔️", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "🤷‍♀️", "🧑🏿‍🚀", "✨✨", "🐈‍⬛", "⭐",
]  # fmt: skip
HTML_BITS = [
    "&amp;", "&#39;", "&quot;", "&lt;b&gt;", "&nbsp;", "&amp;amp;", "&#x1F600;", "&eacute;",
    "&copy; 2024", "AT&T", "<br/>", "&#8217;", "&unknown;", "&amp;#39;",
]  # fmt: skip
PUNCTUATION = [
    "!!!", "?!", "...", "—", "–", "--", "(", ")", "[]", "{}", "''", '"', "«»", "¿", "¡",
    "@#$%^&*", "~", "`", "|", "\\", "/", ";:", ",", ".", "'s", "'", "’", "•", "…", "©®™",
]  # fmt: skip
NUMBERS = ["2024", "3.14159", "1,000,000", "42nd", "1st", "0x1F", "½", "²", "١٢٣", "४२", "-7°C"]
ENGLISH = [
    "a", "photo", "of", "the", "dog", "playing", "in", "snow", "with", "red", "ball", "near",
    "wooden", "fence", "on", "cold", "morning", "two", "people", "ride", "bicycles", "along",
    "river", "while", "sun", "sets", "behind", "old", "brick", "buildings", "Photographs",
]  # fmt: skip
CONTRACTIONS = ["don't", "I'LL", "we've", "She's", "they'RE", "can't", "I'm", "you'd", "it'S"]
WHITESPACE = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2009", "\u200b", "\u2028"]
MOJIBAKE = ["cafÃ©", "â€œquotedâ€\x9d", "Ã¼ber", "naÃ¯ve", "â€™s"]
SPECIAL_LITERALS = ["<start_of_text>", "<END_OF_TEXT>", "<start_of_text>cat", "<|endoftext|>"]
CONTROL = ["\x00", "\x07", "\x1b[31m", "\ufeff", "\ue000", "\U0010fffd"]


def _piece(rng: random.Random) -> str:
    pools = [
        SCRIPT_WORDS, EMOJI, HTML_BITS, PUNCTUATION, NUMBERS, ENGLISH, ENGLISH, ENGLISH,
        CONTRACTIONS, MOJIBAKE, SPECIAL_LITERALS, CONTROL,
    ]  # fmt: skip
    word = rng.choice(rng.choice(pools))
    roll = rng.random()
    if roll < 0.1:
        word = word.upper()
    elif roll < 0.2:
        word = word.title()
    elif roll < 0.25:
        word = "".join(rng.choice([c.lower(), c.upper()]) for c in word)
    return word


def _random_text(rng: random.Random) -> str:
    count = rng.choice([1, 2, 3, 5, 8, 13, 30])
    parts: list[str] = []
    for _ in range(count):
        parts.append(_piece(rng))
        parts.append(rng.choice(WHITESPACE) if rng.random() < 0.8 else "")
    return "".join(parts)


def _random_codepoints(rng: random.Random) -> str:
    """Characters drawn from the whole Unicode range (surrogates excluded)."""
    chars = []
    for _ in range(rng.randint(1, 40)):
        code = rng.choice([rng.randint(0x20, 0x2FF), rng.randint(0x300, 0x3FFF)])
        code = code if rng.random() < 0.7 else rng.randint(0x4000, 0x10FFFF)
        if not 0xD800 <= code <= 0xDFFF:
            chars.append(chr(code))
    return "".join(chars)


def varied_texts(count: int = 1200, seed: int = 7) -> list[str]:
    """``count`` strings covering the cases that break tokenizers, deterministic for a seed."""
    rng = random.Random(seed)
    fixed = [
        "",
        " ",
        "\t\n  \u3000",
        "a photo of a cat",
        "A PHOTO OF A CAT",
        "Hello&amp;amp; World &#39;s",
        "x" * 500,
        " ".join(["word"] * 200),
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "🙂" * 80,
        "一只猫" * 60,
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "The quick brown fox — jumps over the lazy dog!!! (1998) ... #nofilter @home",
    ]
    texts = list(fixed)
    while len(texts) < count:
        texts.append(_random_codepoints(rng) if rng.random() < 0.15 else _random_text(rng))
    return texts


@pytest.fixture(scope="module")
def open_clip_tokenizer() -> Any:
    import open_clip

    return open_clip.get_tokenizer("ViT-B-32")


@pytest.fixture(scope="module")
def tokenizer() -> ClipTokenizer:
    return ClipTokenizer(ClipTokenizer.default_vocab_path())


TEXTS = varied_texts()


def test_generated_texts_are_varied_enough() -> None:
    assert len(TEXTS) >= 1000
    assert len(set(TEXTS)) >= 950
    joined = "".join(TEXTS)
    for probe in ("&amp;", "&#39;", "🙂", "猫", "кошка", "\u3000", "don't"):
        assert probe in joined
    assert "" in TEXTS
    assert any(len(text) > 400 for text in TEXTS)


@pytest.mark.slow
def test_token_rows_equal_open_clip(tokenizer: ClipTokenizer, open_clip_tokenizer: Any) -> None:
    ours = tokenizer(TEXTS)
    theirs = open_clip_tokenizer(TEXTS).numpy()
    assert ours.dtype == np.int64
    assert ours.shape == (len(TEXTS), 77)
    mismatched = [TEXTS[i] for i in np.flatnonzero((ours != theirs).any(axis=1))]
    assert mismatched == []
    # The set must include truncated rows, or the end-token rule was never exercised.
    assert (theirs[:, -1] == tokenizer.eot_token_id).sum() >= 20


@pytest.mark.slow
def test_encode_equals_open_clip_without_truncation(
    tokenizer: ClipTokenizer, open_clip_tokenizer: Any
) -> None:
    # Every third text: the full set is compared row by row above; here ids past the cut count.
    for text in TEXTS[::3]:
        assert tokenizer.encode(text) == open_clip_tokenizer.encode(text), text


@pytest.mark.parametrize("context_length", [2, 5, 16, 128])
def test_other_context_lengths_equal_open_clip(
    context_length: int, open_clip_tokenizer: Any
) -> None:
    # Lengths around the texts' own lengths: some rows truncated, some padded.
    texts = sorted(TEXTS[:400], key=len)[::4]
    ours = ClipTokenizer(ClipTokenizer.default_vocab_path(), context_length)(texts)
    assert ours.shape == (len(texts), context_length)
    theirs = open_clip_tokenizer(texts, context_length=context_length).numpy()
    np.testing.assert_array_equal(ours, theirs)


def test_truncation_keeps_the_end_token_last(tokenizer: ClipTokenizer) -> None:
    row = tokenizer(["cat " * 300])[0]
    assert row[0] == tokenizer.sot_token_id
    assert row[-1] == tokenizer.eot_token_id
    assert (row != 0).all()
    short = tokenizer(["cat"])[0]
    assert list(short[:4]) == [tokenizer.sot_token_id, *tokenizer.encode("cat"), 49407, 0]


def test_empty_and_whitespace_give_only_start_and_end(tokenizer: ClipTokenizer) -> None:
    rows = tokenizer(["", "   \t\n"])
    for row in rows:
        assert list(row[:2]) == [tokenizer.sot_token_id, tokenizer.eot_token_id]
        assert not row[2:].any()


def test_a_single_string_is_a_batch_of_one(tokenizer: ClipTokenizer) -> None:
    np.testing.assert_array_equal(tokenizer("a dog"), tokenizer(["a dog"]))


def test_special_ids_and_vocabulary_size(tokenizer: ClipTokenizer) -> None:
    assert (tokenizer.sot_token_id, tokenizer.eot_token_id) == (49406, 49407)
    assert tokenizer.vocab_size == 49408
    assert tokenizer.context_length == 77


def test_words_concatenate_to_encode(tokenizer: ClipTokenizer) -> None:
    for text in TEXTS[:400]:
        words = tokenizer.words(text)
        assert [i for _, ids in words for i in ids] == tokenizer.encode(text)
        assert all(ids for _, ids in words)


def test_words_of_a_caption(tokenizer: ClipTokenizer) -> None:
    words = tokenizer.words("A Dog's   red BALL!!")
    assert [word for word, _ in words] == ["a", "dog", "'s", "red", "ball", "!!"]
    # Every pre-token ends a BPE word, so each decodes with a trailing space.
    assert [tokenizer.decode(ids) for _, ids in words] == [w + " " for w, _ in words]


@pytest.mark.slow
def test_decode_equals_open_clip(tokenizer: ClipTokenizer, open_clip_tokenizer: Any) -> None:
    for text in TEXTS[:400]:
        ids = tokenizer.encode(text)
        assert tokenizer.decode(ids) == open_clip_tokenizer.decode(ids)
    assert tokenizer.decode(tokenizer.encode("Café &amp; croissant")) == "café & croissant "


def test_decode_rejects_ids_outside_the_vocabulary(tokenizer: ClipTokenizer) -> None:
    for bad in (-1, 49408):
        with pytest.raises(ValueError, match="outside the vocabulary"):
            tokenizer.decode([320, bad])
    assert tokenizer.decode(np.array([320, 49407])) == "a <end_of_text>"


def test_repeated_words_use_the_cache_and_stay_correct(tokenizer: ClipTokenizer) -> None:
    first = tokenizer.encode("photograph photograph")
    assert first[: len(first) // 2] == first[len(first) // 2 :]
    words = tokenizer.words("photograph")
    words[0][1].append(-1)  # callers may mutate what they get; the cache must not change
    assert tokenizer.encode("photograph") == first[: len(first) // 2]


def test_a_tokenizer_rejects_a_context_shorter_than_two() -> None:
    with pytest.raises(ValueError, match="context_length"):
        ClipTokenizer(ClipTokenizer.default_vocab_path(), context_length=1)


def _write_gz(path: Path, text: str) -> Path:
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as handle:
        handle.write(text)
    return path


@pytest.fixture(scope="module")
def vocab_lines() -> list[str]:
    with gzip.open(ClipTokenizer.default_vocab_path(), "rt", encoding="utf-8") as handle:
        return handle.read().split("\n")


def bad_vocab_files(directory: Path, lines: list[str]) -> Iterator[tuple[Path, str]]:
    yield directory / "missing.txt.gz", "does not exist"
    plain = directory / "plain.txt.gz"
    plain.write_text("\n".join(lines), encoding="utf-8")
    yield plain, "unreadable"
    cut = directory / "cut.txt.gz"
    cut.write_bytes(gzip.compress("\n".join(lines[:2000]).encode(), compresslevel=1)[:5000])
    yield cut, "unreadable"
    yield _write_gz(directory / "short.txt.gz", "\n".join(lines[:1000])), "merges"
    broken = list(lines)
    broken[500] = broken[500].replace(" ", "")
    yield _write_gz(directory / "joined.txt.gz", "\n".join(broken)), "merges"
    broken[500] = lines[500] + " extra"
    yield _write_gz(directory / "three.txt.gz", "\n".join(broken)), "merges"
    yield directory, "unreadable"


def test_a_bad_vocabulary_file_is_a_bundle_error_naming_it(
    tmp_path: Path, vocab_lines: list[str]
) -> None:
    for path, phrase in bad_vocab_files(tmp_path, vocab_lines):
        with pytest.raises(BundleError, match=phrase) as caught:
            ClipTokenizer(path)
        assert str(path) in str(caught.value)


def test_a_copied_vocabulary_file_works_and_an_edited_one_is_reread(
    tmp_path: Path, vocab_lines: list[str]
) -> None:
    path = _write_gz(tmp_path / "vocab.txt.gz", "\n".join(vocab_lines))
    reference = ClipTokenizer(ClipTokenizer.default_vocab_path())
    assert ClipTokenizer(path).encode("a red bicycle") == reference.encode("a red bicycle")
    _write_gz(path, "\n".join(vocab_lines[:100]))
    with pytest.raises(BundleError):
        ClipTokenizer(path)


def test_default_vocab_path_is_open_clips_file() -> None:
    path = ClipTokenizer.default_vocab_path()
    assert path.name == "bpe_simple_vocab_16e6.txt.gz"
    assert path.parent.name == "open_clip"


def test_default_vocab_path_without_open_clip_is_a_bundle_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "open_clip" else real_find_spec(name, *args),
    )
    with pytest.raises(BundleError, match="open_clip_torch"):
        ClipTokenizer.default_vocab_path()


def _clean_text_always_with_ftfy(text: str) -> str:
    """clean_text as open_clip does it: ftfy on every text."""
    import html

    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).lower()


def _ascii_edge_cases(count: int, seed: int = 3) -> list[str]:
    """ASCII texts with what ftfy acts on: entities, control characters, escapes, line breaks."""
    rng = random.Random(seed)
    pieces = [chr(code) for code in range(128)] + [
        "&amp;", "&lt;", "&gt;", "&#39;", "&amp;amp;", "&quot;", "<b>", "\r\n", "\r", "\x1b[31m",
        "\x1b[0m", "\x0c", "\x0b", "\x7f", "\x00", "a photo of a dog", "don't", "AT&T",
    ]  # fmt: skip
    clean = [chr(code) for code in range(0x20, 0x7F) if chr(code) != "&"] + ["\t", "\n", "\r"]
    texts = []
    for _ in range(count):
        pool = clean if rng.random() < 0.5 else pieces
        texts.append("".join(rng.choice(pool) for _ in range(rng.randint(0, 30))))
    return texts


def test_cleaning_without_ftfy_equals_cleaning_with_it() -> None:
    """The ASCII fast path skips ftfy only where ftfy changes nothing that reaches the ids."""
    texts = TEXTS + _ascii_edge_cases(4000)
    skipped = [text for text in texts if _FTFY_INERT.fullmatch(text)]
    # Both paths are exercised (here and by the open_clip comparisons on TEXTS).
    assert len(skipped) > 1500
    assert len(texts) - len(skipped) > 1500
    assert sum(1 for text in TEXTS if _FTFY_INERT.fullmatch(text)) > 50
    for text in texts:
        assert clean_text(text) == _clean_text_always_with_ftfy(text), repr(text)


def test_plain_queries_do_not_import_ftfy_and_mojibake_still_gets_fixed() -> None:
    script = """
import sys
from dclip_core.runtime.tokenizer import ClipTokenizer
tokenizer = ClipTokenizer(ClipTokenizer.default_vocab_path())
plain = tokenizer.encode("Two dogs in the snow, 2024 (don't crop)")
print("ftfy" in sys.modules)
print(tokenizer.encode("cafÃ©") == tokenizer.encode("café"), "ftfy" in sys.modules)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True"]


def test_runtime_modules_never_import_torch(tmp_path: Path) -> None:
    """Search must start fast: tokenising, loading and preprocessing an image pull in no torch."""
    from PIL import Image

    image_path = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (10, 120, 200)).save(image_path)
    script = f"""
import sys
import dclip_core.runtime.tokenizer, dclip_core.runtime.preprocess, dclip_core.runtime.images
from dclip_core.runtime.tokenizer import _FTFY_INERT, ClipTokenizer, clean_text
from dclip_core.runtime.preprocess import preprocess_image
from dclip_core.runtime.images import load_image
from dclip_core.runtime.preprocess import ImagePreprocess
tokens = ClipTokenizer(ClipTokenizer.default_vocab_path())(["a photo of a cat"])
pixels = preprocess_image(load_image({str(image_path)!r}, min_side=64), ImagePreprocess(size=64))
assert tokens.shape == (1, 77) and pixels.shape == (3, 64, 64)
heavy = sorted(m for m in ("torch", "torchvision", "open_clip") if m in sys.modules)
assert not heavy, heavy
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
