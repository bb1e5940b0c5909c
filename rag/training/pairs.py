"""(question, sentence) pairs for training and measuring the reader, from SQuAD-style articles.

A sentence is read with its document's title and the sentence before it (``Candidate``), so a sentence
that answers a heading-question can be judged. The positive is the sentence that holds the answer's
start; negatives are the other sentences of its paragraph (the hard ones), the sentences of other
paragraphs of the article that share most words with the question, a random sentence of another article,
and optionally the question itself as a sentence (a heading that restates it). Cross-lingual pairs take the
question from one language's file and the sentences from another's: XQuAD's question ids match across its
twelve languages.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.extraction import char_bigrams
from rag.ingest.chunking import split_sentences
from rag.rankers.reader import SENTENCE_CHARS, clip
from rag.training.squad import Article, load_squad
from rag.training.steps import Pair
from rag.types import Candidate, Sentence


@dataclass(frozen=True)
class Located:
    """One question with its answer sentence, and the question as asked in the context's language."""

    question: str
    native_question: str
    article: int
    paragraph: int
    sentence: int
    answer: tuple[int, int] | None


def candidate(title: str, sentences: Sequence[Sentence], i: int) -> Candidate:
    return clip(title, sentences[i - 1].text if i > 0 else "", sentences[i].text)


def paragraph_sentences(articles: Sequence[Article]) -> list[list[list[Sentence]]]:
    return [[split_sentences(p.context) for p in a.paragraphs] for a in articles]


def locate_questions(
    contexts: Sequence[Article], sentences: list[list[list[Sentence]]], questions: dict[str, str] | None = None
) -> list[Located]:
    """Every question of ``contexts`` with the sentence that holds its answer; ``questions`` maps a
    question id to the text to ask instead (another language's version of the same question)."""
    located = []
    for ai, article in enumerate(contexts):
        for pi, para in enumerate(article.paragraphs):
            for qa in para.qas:
                asked = qa.question if questions is None else questions.get(qa.qid)
                if not asked:
                    continue
                for si, s in enumerate(sentences[ai][pi]):
                    if s.start <= qa.answer_start < s.end:
                        start = qa.answer_start - s.start
                        end = start + len(qa.answer)
                        span = (start, end) if end <= min(len(s.text), SENTENCE_CHARS) else None
                        located.append(Located(asked, qa.question, ai, pi, si, span))
                        break
    return located


def question_texts(articles: Sequence[Article]) -> dict[str, str]:
    return {qa.qid: qa.question for a in articles for p in a.paragraphs for qa in p.qas}


def xquad_over_chinese(xquad: Path) -> tuple[list[Article], dict[str, dict[str, str]]]:
    """XQuAD's Chinese articles (in the folder ``xquad``), and its English and Chinese questions by id."""
    zh = load_squad(xquad / "xquad.zh.json")
    return zh, {"en": question_texts(load_squad(xquad / "xquad.en.json")), "zh": question_texts(zh)}


# The reader's dev sets, as the experiments that judge on them name them.
DEV_SETS = ("en→zh XQuAD 19-24", "zh→zh XQuAD 19-24", "zh→zh CMRC trial")


@dataclass(frozen=True)
class QuestionSet:
    """Questions over SQuAD-style articles, asked (as ``asked_as`` words them) in indexes of ``size`` articles."""

    name: str
    articles: Sequence[Article]
    asked_as: dict[str, str]
    size: int

    @property
    def training(self) -> bool:
        return self.name.startswith("train")


def reader_sets(datasets: Path) -> list[QuestionSet]:
    """The reader's training articles (XQuAD 1-18 in English and Chinese over the Chinese paragraphs, CMRC 2018
    dev), then its dev articles (XQuAD 19-24, the CMRC trial file), in ``datasets``."""
    cmrc = datasets / "cmrc2018"
    zh, asked = xquad_over_chinese(datasets / "xquad-train")
    trial, dev = load_squad(cmrc / "cmrc2018_trial.json"), load_squad(cmrc / "cmrc2018_dev.json")
    return [
        QuestionSet("train en→zh XQuAD 1-18", zh[:18], asked["en"], 6),
        QuestionSet("train zh→zh XQuAD 1-18", zh[:18], asked["zh"], 6),
        QuestionSet("train CMRC dev", dev, question_texts(dev), 283),
        QuestionSet(DEV_SETS[0], zh[18:24], asked["en"], 6),
        QuestionSet(DEV_SETS[1], zh[18:24], asked["zh"], 6),
        QuestionSet(DEV_SETS[2], trial, question_texts(trial), len(trial)),
    ]


def lexical_neighbours(question: str, pool: Sequence[tuple[int, int, int, str]], n: int) -> list[tuple[int, int, int]]:
    """The ``n`` sentences of ``pool`` (article, paragraph, sentence, text) sharing most character
    bigrams with ``question``: topical sentences that do not answer it."""
    grams = char_bigrams(question)
    scored = sorted(pool, key=lambda row: -len(grams & char_bigrams(row[3])))
    return [(a, p, s) for a, p, s, _ in scored[:n]]


def restatement(title: str, q: Located) -> Candidate:
    """The question itself, in the paragraph's language, as a sentence of the document: a heading that
    asks it (podcast show notes and articles do) names everything the question does and answers nothing."""
    return clip(title, "", q.native_question)


def build_pairs(
    contexts: Sequence[Article],
    located: Sequence[Located],
    rng: random.Random,
    same_paragraph: int = 3,
    same_article: int = 1,
    other_article: int = 1,
    restating: bool = False,
) -> list[Pair]:
    sentences = paragraph_sentences(contexts)
    pairs: list[Pair] = []
    for q in located:
        own = sentences[q.article][q.paragraph]
        title = contexts[q.article].title
        pairs.append(Pair(q.question, candidate(title, own, q.sentence), 1, q.answer))
        others = [i for i in range(len(own)) if i != q.sentence]
        for i in rng.sample(others, min(same_paragraph, len(others))):
            pairs.append(Pair(q.question, candidate(title, own, i), 0))
        pool = [
            (q.article, pi, si, s.text)
            for pi, para in enumerate(sentences[q.article])
            if pi != q.paragraph
            for si, s in enumerate(para)
        ]
        for ai, pi, si in lexical_neighbours(q.native_question, pool, same_article):
            pairs.append(Pair(q.question, candidate(title, sentences[ai][pi], si), 0))
        if restating:
            pairs.append(Pair(q.question, restatement(title, q), 0))
        for _ in range(other_article if len(contexts) > 1 else 0):
            ai = rng.choice([i for i in range(len(contexts)) if i != q.article])
            pi = rng.randrange(len(sentences[ai]))
            if sentences[ai][pi]:
                si = rng.randrange(len(sentences[ai][pi]))
                pairs.append(Pair(q.question, candidate(contexts[ai].title, sentences[ai][pi], si), 0))
    return pairs
