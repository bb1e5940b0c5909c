"""How common an English word is, from wordfreq's data, held compactly.

wordfreq's own lookups keep its whole English list in memory, as a dict of 321,180 words and as the lists it was
read from, for a few lookups per English question: serving peaked 20-45 MB higher with them (README, "Speed").
Here the same file is read one frequency bucket at a time into a sorted array of the words' hashes and the bucket
each is in (3 MB), and only the commonest words are kept as text. A word's Zipf frequency is worked out from its
tokens' buckets as wordfreq's ``zipf_frequency`` works it out (its tokens, its digits and its rounding, with
wordfreq's own functions): the tests compare the two tables on every word of the list, and the two functions on a
sample of it and on the question sets' words.
"""

from __future__ import annotations

import gzip
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

LANGUAGE = "en"
# wordfreq stores frequencies rounded to centibels: the words of bucket i occur 10 ** (-i / 100) of the time.
CENTIBELS = 100.0
# Below one use per billion words a word is unknown: Zipf 0, as wordfreq's ``zipf_frequency`` says by default.
MINIMUM = 1e-9

_BUILDING = threading.Lock()


@dataclass(frozen=True)
class Frequencies:
    hashes: np.ndarray  # int64, sorted: each word's ``_key``
    buckets: np.ndarray  # uint16, aligned with ``hashes``: the word's bucket
    # The list's first words without digits, commonest first, as wordfreq's ``top_n_list`` gives them.
    commonest: tuple[str, ...]

    def frequency(self, token: str) -> float | None:
        """The share of words that are ``token`` (as wordfreq's list has it), or None when the list lacks it. Two
        words whose 64-bit keys collide read as one (for the list's 321,180 words, about three chances in a billion
        that any two do)."""
        key = _key(token)
        i = int(np.searchsorted(self.hashes, key))
        if i == len(self.hashes) or self.hashes[i] != key:
            return None
        return float(10 ** (-int(self.buckets[i]) / CENTIBELS))

    @classmethod
    def read(cls, path: Path, commonest: int) -> Frequencies:
        """The cBpack file at ``path`` (wordfreq's format: a header, then one list of words per centibel), keeping
        its first ``commonest`` words as text."""
        from wordfreq.numbers import has_digit_sequence

        hashes: list[np.ndarray] = []
        buckets: list[np.ndarray] = []
        first: list[str] = []
        for index, words in _buckets(path):
            hashes.append(_keys(words))
            buckets.append(np.full(len(words), index, dtype=np.uint16))
            if len(first) < commonest:
                first.extend(w for w in words if not has_digit_sequence(w))
        del first[commonest:]
        flat = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.int64)
        order = np.argsort(flat, kind="stable")
        bucket_of = np.concatenate(buckets) if buckets else np.zeros(0, dtype=np.uint16)
        return cls(flat[order], bucket_of[order], tuple(first))


def _key(word: str) -> int:
    """This process's hash of the word's UTF-8 bytes. (Not ``hash(word)``: a string is hashed as it is stored, so "つ",
    stored as the two bytes of "d0", hashes as "d0" does.)"""
    return hash(word.encode())


def _keys(words: list[str]) -> np.ndarray:
    """``_key`` of each word (the same, without a Python call per word: a third of the time)."""
    return np.fromiter(map(hash, map(str.encode, words)), dtype=np.int64, count=len(words))


def _buckets(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(index, words) of each bucket, one at a time: the whole list is never in memory as text."""
    import msgpack  # wordfreq reads its lists with it too

    with gzip.open(path, "rb") as infile:
        unpacker = msgpack.Unpacker(infile, raw=False)
        size = unpacker.read_array_header()
        header = unpacker.unpack()
        if not isinstance(header, dict) or header.get("format") != "cB" or header.get("version") != 1:
            raise ValueError(f"{path}: not a wordfreq cBpack file (header {header!r})")
        for index in range(size - 1):
            yield index, unpacker.unpack()


def english(commonest: int) -> Frequencies:
    """wordfreq's best English list, read once (by one thread: a question that comes while the background warm-up
    reads it waits for that read)."""
    with _BUILDING:
        return _english(commonest)


@cache
def _english(commonest: int) -> Frequencies:
    from wordfreq import available_languages  # here: importing wordfreq takes 0.15 s (rag.query warms it up)

    return Frequencies.read(Path(available_languages("best")[LANGUAGE]), commonest)


def zipf(word: str, table: Frequencies) -> float:
    """log10 of ``word``'s uses per billion words (0 when unknown), as wordfreq's ``zipf_frequency(word, "en")``:
    a word of several tokens ("gpt-4") combines theirs as 1 / f = 1 / f1 + 1 / f2 + ..., a digit sequence is looked
    up as zeros and weighed by how common that sequence is, and the result is rounded to three significant digits,
    then to hundredths."""
    from wordfreq.numbers import digit_freq, smash_numbers
    from wordfreq.tokens import lossy_tokenize

    tokens = lossy_tokenize(word, LANGUAGE)
    inverse = 0.0
    for token in tokens:
        smashed = smash_numbers(token)
        found = table.frequency(smashed)
        if found is None:
            inverse = 0.0
            break
        inverse += 1.0 / (found * digit_freq(token) if smashed != token else found)
    frequency = max(1.0 / inverse, MINIMUM) if inverse else MINIMUM
    rounded = round(frequency, math.floor(-math.log(frequency, 10)) + 3)
    return round(math.log(rounded, 10) + 9, 2)
