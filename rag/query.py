"""Question analysis, done once per question: everything later stages read off the question.

A ``Query`` holds the cleaned text, its embedding, its keyword terms with their translations, the
answer type it asks for, the versioned names it mentions, its share of Latin letters and, for a question
that only asks what or who something is, that subject with its terms.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from rag.background import in_background
from rag.config import MAX_QUESTION_CHARS
from rag.embedding import Embedder
from rag.errors import BadQueryError
from rag.text.crosslingual import (
    across_cuts,
    by_skeleton,
    correct_spelling,
    english_words,
    expand,
    read_aloud,
    spelt_as_corpus,
    with_transliterations,
    zipf,
)
from rag.text.lexicon import Lexicon
from rag.text.scripts import UNIFIED, simplified
from rag.text.tokenize import entities, tokenize
from rag.timing import Timings

logger = logging.getLogger(__name__)

# Expected answer types, from the question's wording. Only question forms count: "how do MoE models
# keep costs down" asks for no number, and "what did it answer when asked" for no date.
_ASKS_FOR = {
    "date": re.compile(
        r"^\s*when\b|\bwhen (?:did|was|were|is|will|does|do|has|had)\b|,? and when\b|"
        r"\b(?:what|which|on what|in what) (?:date|year|day|month)\b|"
        r"哪一?(?:天|年|月)|什么时候|何时|几月|几号|哪个月",
        re.IGNORECASE,
    ),
    "number": re.compile(
        r"\bhow (?:many|much|far|long|big|large|old)\b|多少|几[个张块位名年天次倍]|多[大长高久远]",
        re.IGNORECASE,
    ),
}

# A question that only asks what or who something is: "What is MLA?", "What does MoE stand for?", "Tell me about
# Stargate", "介绍一下幻方量化", "AGI是什么意思？". "Who is DeepSeek's CTO?" is not (a possessive asks about something
# else), nor "What is the capital of France?" (a preposition). The subject is at most four English words or ten
# characters; "X的Y是谁" asks for a role, not a definition, and "X不是什么" is no definition either, nor "What was the
# museum called?" (it asks for a name). Simplified and traditional Chinese alike. A term typed alone ("MoE", "幻方量化")
# asks what it is too.
_ARTICLE_WORDS = r"an?\s+|the\s+"
_ARTICLE = rf"(?P<article>{_ARTICLE_WORDS})?"
_IS = r"(?:(?:what|who)\s+(?:exactly\s+)?(?:is|are|was|were)|(?:what|who)['’]?s)"  # "what's", "whos" as typed
_POLITE = r"(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?|please\s+)?"
_DEFINITION = (
    re.compile(rf"^{_IS}\s+{_ARTICLE}(?P<subject>[^?？]+?)(?:\s+exactly)?\s*[?？]?$", re.I),
    re.compile(rf"^what\s+(?:does|do|did)\s+{_ARTICLE}(?P<subject>[^?？]+?)\s+(?:stand\s+for|mean)\s*[?？]?$", re.I),
    re.compile(
        rf"^{_POLITE}(?:tell\s+me\s+about|define|explain|describe)\s+{_ARTICLE}(?P<subject>[^?？.。]+?)"
        r"(?:\s+please)?\s*[?？.。]?$",
        re.I,
    ),
    # As typed into a search box: "meaning of distillation", "MoE meaning", "MoE stands for?"
    re.compile(r"^(?:meaning|definition)\s+of\s+(?P<subject>[^?？]+?)\s*[?？]?$", re.I),
    re.compile(r"^(?P<subject>[^?？]+?)\s+(?:meaning|definition|stands\s+for)\s*[?？]?$", re.I),
    re.compile(  # asked inside another question: "Can you tell me what MoE is?", "Do you know who X is?"
        rf"^(?:{_POLITE}tell\s+me|do\s+you\s+know|i(?:\s+want|\s+would\s+like|['’]d\s+like)\s+to\s+know|i\s+wonder)"
        rf"\s+(?:what|who)\s+{_ARTICLE}(?P<subject>[^?？.。]+?)\s+(?:is|are|was|were)\s*[?？.。]?$",
        re.I,
    ),
    re.compile(
        r"^请?(?:什么是|什麼是|什么叫|什麼叫|啥是|谁是|誰是|介绍一下|介紹一下|解释一下|解釋一下)(?P<subject>[^?？]+?)[?？。]?$"
    ),
    re.compile(
        r"^(?P<subject>[^?？]+?)(?:是(?:什么|什麼|谁|誰|啥)(?:意思|东西|東西)?|(?:指的是|是指|指)(?:什么|什麼))[?？]?$"
    ),
)
_NOT_A_SUBJECT = re.compile(
    r"['’]s\b|[,，、]|\b(?:in|on|at|for|by|with|to|from|about|and|or|that|which|it|this|these|those|he|she|they|"
    r"you|we|i|there|here|so|not|behind|between|after|before|during|when|where|why|how|what|who|"
    r"called|named|known|considered|used|made|located|based|founded|born|built)\b|"
    r"[的不没沒哪怎吗嗎呢]|什么|什麼|甚么|甚麼|谁|誰|[有因]何|何(?:時|时|年|日|處|处|地|人|種|种|物|者)",
    re.IGNORECASE,
)
# "of" makes a relation ("the capital of France") unless the subject is a term that holds it ("mixture of experts",
# asked without an article): such a subject names a sentence only as written (``rag.coverage.names_subject``).
_OF = re.compile(r"\bof\b", re.IGNORECASE)
MAX_SUBJECT_WORDS, MAX_SUBJECT_CHARS = 4, 10
_BARE = re.compile(r"\s*[?？]+$")  # a term typed alone may end with a question mark
_LEADING_ARTICLE = re.compile(_ARTICLE_WORDS, re.IGNORECASE)  # a term typed alone may start with one
# Read in simplified script; a question that ends with 为 ("歐洲第一高峰為?") asks what something is called.
_ASKS = re.compile(r"如何|多少|几|多[大长高久远]|有多|是否|为何|有没有|能否|可否|可以|要不要|为$")


@dataclass(frozen=True)
class Query:
    text: str
    vector: np.ndarray  # the question's embedding, L2-normalised
    terms: list[list[str]]  # per question word: the word, then its translations into the corpus's words
    expected: str | None  # the answer type the question asks for: "date", "number" or None
    names: frozenset[str]  # versioned names ("gpt5") the question mentions
    # The share of the question's letters in the script the corpus is not written in (``crosslingual_share``): of
    # Latin letters over a corpus in Chinese. Keyword signals mean less across languages.
    crosslingual: float
    # What a question that only asks what or who something is asks about ("MLA" in "What is MLA?"), and its words
    # with their translations, as ``terms``; None and () for any other question.
    subject: str | None = None
    subject_terms: tuple[tuple[str, ...], ...] = ()
    # The question with its names in pinyin written as the corpus writes them ("What does 张涛 do?"), and in simplified
    # script over a corpus written in it, which is what the verifier reads (``rag.text.crosslingual.spelt_as_corpus``);
    # None: as asked.
    spelt: str | None = None
    # Whether the corpus is written mostly in Latin script (``Lexicon.latin``): a Chinese question's keyword terms
    # are then the dictionary's English words for its words.
    corpus_in_latin: bool = False

    @property
    def search_terms(self) -> list[str]:
        """Every term and translation once, in question order: what keyword search looks up."""
        return list(dict.fromkeys(t for group in self.terms for t in group))


class QueryAnalyzer:
    def __init__(self, embedder: Embedder, lexicon: Lexicon) -> None:
        self.embedder = embedder
        self.lexicon = lexicon
        # Dictionaries that load on first use (the traditional-to-simplified table, wordfreq's English list, its
        # frequencies and the list by spelling, pypinyin's, the glosses' stems, the corpus's names by sound; about a
        # second here, half of it the first table, most of the rest importing
        # pypinyin and wordfreq) load in the background from here: the server is ready without waiting for them, and
        # a question that comes first waits only for what it uses (on the import lock, cached_property's lock, and
        # for the names by sound on ``by_skeleton``'s). jieba's dictionary loads a part per character as questions
        # need it (rag.text.segmenter).
        in_background(self._warm_up, "rag-warm-up").add_done_callback(_report_failure)

    def _warm_up(self) -> None:
        tokenize(""), simplified(""), self.lexicon.simplified, self.lexicon.latin
        english_words(), zipf("the"), correct_spelling("the"), read_aloud("中"), self.lexicon.dictionary.stems
        by_skeleton(self.lexicon.vocabulary)

    def analyze(self, question: str, timings: Timings | None = None) -> Query:
        """``question`` cleaned and analysed; raises BadQueryError for an empty or overlong one."""
        timed = timings or Timings()
        text = clean_question(question)
        # The dense model and the verifier read a question in traditional characters as the corpus writes, when it
        # writes simplified script ("中國的人工智能" as "中国的人工智能"); its keyword terms are looked up in simplified
        # script already (``expand``).
        read = simplified(text) if self.lexicon.simplified else text
        with timed("embed"):
            vector = self.embedder.embed([read], "query")[0]
        with timed("expand"):
            dictionary, vocabulary = self.lexicon.dictionary, self.lexicon.vocabulary
            terms = across_cuts(text, expand(tokenize(text), dictionary, vocabulary), vocabulary)
            subject = definition_subject(text)
            # The subject's names may also be spelt in Chinese characters (Jevons 杰文斯): only naming it reads them.
            subject_terms = (
                with_transliterations(expand(tokenize(subject), dictionary, vocabulary), dictionary, vocabulary)
                if subject
                else []
            )
            spelt = spelt_as_corpus(read, dictionary, vocabulary)
        return Query(
            text,
            vector,
            terms,
            expected_answer(text),
            frozenset(entities(text)),
            crosslingual_share(text, self.lexicon.latin),
            subject if subject_terms else None,
            tuple(map(tuple, subject_terms)),
            spelt if spelt != text else None,
            self.lexicon.latin,
        )


def _report_failure(warm_up: Future[None]) -> None:
    failure = warm_up.exception()
    if failure is not None:  # a question would meet the same failure, and report it
        logger.warning("warming up the query's dictionaries failed", exc_info=failure)


def clean_question(text: str) -> str:
    """``text`` with its whitespace collapsed and what is typed around a question taken off (``undressed``)."""
    stripped = " ".join(text.split())
    if not stripped:
        raise BadQueryError("the question is empty")
    if len(stripped) > MAX_QUESTION_CHARS:
        raise BadQueryError(f"the question has {len(stripped)} characters; the limit is {MAX_QUESTION_CHARS}")
    return undressed(stripped)


# What people type around a question is not part of it, but the models read it: "Who founded DeepSeek?!" was not
# covered while "Who founded DeepSeek?" was uncertain, and "Thanks!" or an emoji moved other questions across the
# coverage threshold either way (docs/tuning.md, "Dressed questions"). Taken off: emoji; a greeting before the
# question ("Hi," "Hello!" "你好，"); thanks after it ("Thanks!" "谢谢！"); quotation marks around the whole of it; a
# run of question and exclamation marks at its end ("??", "?!", "？！"), which keeps its question mark.
# Pictographs anywhere; the older symbols (☺ ✨ ⭐) only at the end, as "Gtk♯" and "标有★" use them as signs.
_EMOJI = re.compile(r"[\U0001F000-\U0001FAFF\uFE0E\uFE0F\u200D\u20E3]+|[\u2600-\u27BF\u2B00-\u2BFF\s]+$")
_QUESTION_WORD = r"(?:what|who|whom|whose|which|when|where|why|how|is|are|was|were|do|does|did|can|could)\b"
_GREETING = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|greetings|good (?:morning|afternoon|evening))(?: there| all| everyone)?"
    rf"(?:\s*[,!.:;]+\s*|\s+(?={_QUESTION_WORD}))"
    r"|(?:你好|您好|嗨|哈喽|哈啰|大家好)[，,!！。.：:\s]+)",
    re.IGNORECASE,
)
# "So, what is MoE?", "Ok so what is MoE", "Quick question: …", "Q: …", "请问MoE是什么？" ("may I ask"). "So does …"
# keeps its "so": without the comma it may belong to the question.
_OPENER = re.compile(
    r"^(?:(?:so|ok|okay|well|alright)\s*,\s*|ok(?:ay)?\s+so\s+|(?:quick\s+)?question\s*[:：]\s*|q\s*[:：]\s*"
    r"|请问[，,：:\s]*|问\s*[:：]\s*)",
    re.IGNORECASE,
)
_THANKS_EN = r"(?:thanks?|thank you|many thanks|thx|ty|cheers)(?: (?:so|very) much)?(?: in advance)?"
_THANKS_ZH = r"(?:谢谢(?:你|您)?|多谢|感谢|谢啦)"
_AFTER_MARK = r"(?<=[?？!！.。,，])"
_THANKS = re.compile(
    rf"(?:{_AFTER_MARK}|\s)\s*{_THANKS_EN}[\s!！.。~～]*$"
    rf"|{_AFTER_MARK}\s*{_THANKS_ZH}[\s!！.。~～]*$"
    rf"|{_THANKS_ZH}[!！.。~～]+$",  # "张涛谢谢！": glued on, but closed by its own mark
    re.IGNORECASE,
)
_QUOTES = {"“": "”", '"': '"', "'": "'", "‘": "’", "「": "」", "『": "』", "«": "»"}
_APOSTROPHE = re.compile(r"(?<=\w)['’](?=\w)")
_MARKS_RUN = re.compile(r"[?？!！]{2,}$")
# Chinese sentence-final particles add a tone, not a word: "MLA是什么意思啊" asks "MLA是什么意思".
_FINAL_PARTICLES = re.compile(rf"(?<=[{UNIFIED}A-Za-z0-9])[啊呀吧嘛呢啦]+(?=[?？!！。.]?$)")


def undressed(question: str) -> str:
    """``question`` without what is typed around it (above); as it is when nothing would be left."""
    text = question
    while True:
        before = text
        text = " ".join(_EMOJI.sub(" ", text).split())
        if (greeting := _GREETING.match(text) or _OPENER.match(text)) is not None:
            rest = text[greeting.end() :]
            # A sentence starts with a capital ("Hi, what is MoE?" -> "What is MoE?"); a keyword query keeps its case.
            sentence = rest.endswith(("?", "？")) or re.match(_QUESTION_WORD, rest, re.IGNORECASE)
            text = rest[:1].upper() + rest[1:] if sentence else rest
        text = _THANKS.sub("", text).strip()
        if len(plain := _FINAL_PARTICLES.sub("", text)) >= 3:  # "好吧" stays
            text = plain
        closing = _QUOTES.get(text[:1])
        inner = _APOSTROPHE.sub("", text[1:-1])  # "'What is Nvidia's …?'" is quoted whole
        if closing and len(text) > 1 and text.endswith(closing) and text[:1] not in inner and closing not in inner:
            text = text[1:-1].strip()
        if (run := _MARKS_RUN.search(text)) is not None:
            marks = run.group()
            text = text[: run.start()] + next((m for m in marks if m in "?？"), marks[0])
        if text == before:
            return _with_question_mark(text) if text.strip(" ?？!！.。,，") else question


# A question typed without its question mark: the models read the mark (a copy of the question sets without it moved
# 35 of 419 questions' grade or evidence), so a question that reads as one gets it back ("what did liang wenfeng say"
# -> "what did liang wenfeng say?"); a keyword query ("liang wenfeng catfish quote") stays as typed.
_ASKING = re.compile(
    rf"^{_QUESTION_WORD}|(?:什么|什麼|谁|誰|哪|多少|几|幾|怎么|怎麼|为什么|為什麼|如何|是否)|[吗嗎呢]$", re.IGNORECASE
)
_CLOSED = re.compile(r"[?？!！.。…:：;；,，、)）\]】\"'”’」』]$")  # already ends with punctuation: left as typed
_HAN_END = re.compile(rf"[{UNIFIED}]$")


def _with_question_mark(text: str) -> str:
    """``text`` with a question mark at its end when it reads as a question and ends with none ("？" after a Han
    character, "?" otherwise)."""
    if not _ASKING.search(text) or _CLOSED.search(text):
        return text
    return text + ("？" if _HAN_END.search(text) else "?")


def expected_answer(question: str) -> str | None:
    """What kind of answer the question asks for: "date", "number", or None when it names none."""
    return next((kind for kind, pattern in _ASKS_FOR.items() if pattern.search(question)), None)


def definition_subject(question: str) -> str | None:
    """What the question asks to be defined or identified ("MLA" in "What is MLA?", "幻方量化" in "幻方量化是什么？"),
    or None when it asks anything else."""
    for pattern in _DEFINITION:
        match = pattern.match(question.strip())
        if match is None:
            continue
        subject = match["subject"].strip()
        return subject if _a_subject(subject, bool(match.groupdict().get("article"))) else None
    # A term alone ("MoE", "Jevons paradox", "幻方量化"), as typed into a search box, asks what it is.
    term = _BARE.sub("", question.strip())
    if _ASKS.search(simplified(term)):  # "长城有多长？" is a question without a question form's frame, not a term
        return None
    return term if _a_subject(term, _LEADING_ARTICLE.match(term) is not None) else None


def _a_subject(subject: str, article: bool) -> bool:
    """Whether ``subject`` may be what a definitional question asks about: short, and no relation ("the capital of
    France", a preposition, a possessive, a question word) nor a question of its own."""
    short = len(subject.split()) <= MAX_SUBJECT_WORDS if subject.isascii() else len(subject) <= MAX_SUBJECT_CHARS
    related = _OF.search(subject) and (article or _OF.match(subject))
    return bool(short and subject and not related and not _NOT_A_SUBJECT.search(subject))


def named_as_written(subject: str) -> bool:
    """Whether a definitional subject names a sentence only as written, not through its words' translations: a term
    that holds "of" ("mixture of experts")."""
    return bool(_OF.search(subject))


def crosslingual_share(text: str, corpus_in_latin: bool) -> float:
    """The share of ``text``'s letters in the script the corpus is not written in: Latin letters over a corpus in
    Chinese (the seeds), any other over a corpus written mostly in Latin script."""
    share = latin_share(text)
    return 1.0 - share if corpus_in_latin and any(ch.isalpha() for ch in text) else share


def latin_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    return sum(ch.isascii() for ch in letters) / len(letters) if letters else 0.0
