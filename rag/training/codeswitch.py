"""Chinese questions glossed word by word into English through CC-CEDICT, for training on questions asked across
languages where the data sets have few (code-switching augmentation; docs/tuning.md, "Glossed questions").

XQuAD gives 493 English questions over Chinese paragraphs to train on; CMRC 2018 and DRCD give thousands of Chinese
ones. A Chinese question glossed word by word ("DeepSeek的创始人是谁？" -> "DeepSeek creator is who?") keeps Chinese
word order and picks each word's first sense, so it is no translation; but it asks about the same paragraph in
English words, as an English speaker's question does, which is what a model reading the two together must learn to
match. Words CC-CEDICT lacks (names, mostly) stay in Chinese characters, as the service hands a pinyin name to the
verifier.

    python -m rag.training.codeswitch "DeepSeek的创始人是谁？"   # prints the glossed question
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from functools import cache

from rag.text.crosslingual import glosses
from rag.text.scripts import ENTRY, HAN_RUN, cedict_lines, simplified
from rag.text.tokenize import segment

# Question words and particles, glossed as an English question asks (CC-CEDICT's first senses of 几, 多少 or 哪 are
# "how much; how many", "how much", "which? (interrogative, followed by classifier or numeral-classifier)"); "" drops
# the word: particles and markers no English question writes.
QUESTION_WORDS = {
    "谁": "who",
    "什么": "what",
    "啥": "what",
    "哪": "which",
    "哪个": "which",
    "哪些": "which",
    "哪家": "which",
    "哪位": "who",
    "哪国": "which country",
    "哪里": "where",
    "哪儿": "where",
    "何处": "where",
    "多少": "how many",
    "几": "how many",
    "何时": "when",
    "什么时候": "when",
    "哪年": "which year",
    "哪一年": "which year",
    "为什么": "why",
    "为何": "why",
    "怎么": "how",
    "怎样": "how",
    "如何": "how",
    "是否": "whether",
    "多长": "how long",
    "多久": "how long",
    "多大": "how big",
    "多高": "how tall",
    "是": "is",
    "由": "by",
    "个": "",
    "有": "has",
    "在": "in",
    "于": "in",
    "和": "and",
    "与": "and",
    "被": "by",
    "的": "",
    "了": "",
    "吗": "",
    "呢": "",
    "吧": "",
    "之": "",
    "得": "",
    "地": "",
    "着": "",
    "过": "",
}
_PUNCTUATION = str.maketrans("，。？！：；、（）《》“”‘’", ',.?!:;,()""""\'\'')


@cache
def first_glosses() -> dict[str, str]:
    """Simplified headword -> the gloss of its first usable sense (one or two English words), a common noun's entry
    before a proper noun's (大学: "university", not the classic "Great Learning"); a proper noun's gloss is its name."""
    out: dict[str, tuple[bool, int, str]] = {}
    for line in cedict_lines():
        match = ENTRY.match(line.strip())
        if match is None:
            continue
        proper = match["pinyin"][:1].isupper()
        found = min(glosses(match["defs"], proper=proper), default=None)
        if found is not None:
            key = (proper, *found)
            word = match["simp"]
            out[word] = min(out.get(word, key), key)
    return {word: gloss for word, (_, _, gloss) in out.items()}


def glossed(question: str) -> str:
    """``question`` with each Chinese word in English: a question word by ``QUESTION_WORDS``, another by its first
    CC-CEDICT gloss (``_glossed_word``); Latin words, digits and the order kept."""
    table = first_glosses()
    words = []
    for word in segment(simplified(question)):
        word = word.strip()
        if not word:
            continue
        if not HAN_RUN.search(word):
            words.append(word.translate(_PUNCTUATION))
        elif word in QUESTION_WORDS:
            words.append(QUESTION_WORDS[word])
        else:
            words.extend(_glossed_word(word, table))
    text = " ".join(w for w in words if w)
    return re.sub(r" ([,.?!:;)])", r"\1", re.sub(r"([(]) ", r"\1", text)).strip()


def _glossed_word(word: str, table: dict[str, str]) -> Iterable[str]:
    """A word CC-CEDICT has by its gloss; one it lacks cut into the longest words it has, left to right (环氧氯丙烷:
    ring, oxygen, chlorine, propane), unless every piece is one character (英伟达, 梁文峰: a name), which is kept in
    Chinese characters: the service reads a pinyin name in an English question as the documents write it
    (``rag.text.crosslingual.spelt_as_corpus``), so names reach the verifier in Chinese characters."""
    if len(word) == 1:
        return [word]  # 英 of 英伟达 or 梁 of 梁文峰 as jieba cuts them: a name's first character, as often as a word
    if word in table:
        return [table[word]]
    pieces = []
    rest = word
    while rest:
        size = next((n for n in range(min(len(rest), 4), 0, -1) if rest[:n] in table or rest[:n] in QUESTION_WORDS), 1)
        pieces.append(rest[:size])
        rest = rest[size:]
    if all(len(piece) == 1 for piece in pieces):
        return [word]
    return [QUESTION_WORDS.get(piece, table.get(piece, piece)) for piece in pieces]


if __name__ == "__main__":
    for q in sys.argv[1:]:
        print(glossed(q))
