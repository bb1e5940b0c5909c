"""What each source says: the chosen sentences grouped by document, each with the sentences around it.

A person reading an answer to "Did DeepSeek distill ChatGPT?" should see at a glance that one source
calls it a rumour and another reports OpenAI's accusation: so the best sentences are grouped into one
``Source`` per document, most relevant first, each quote with the sentence before and after it. A quote
that is itself a question (show notes and articles ask the reader's question as a heading before
answering it) is never left alone: the sentence after it is quoted with it, when it answers.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from rag.extraction import ScoredSentence, is_question, near_duplicate, to_evidence
from rag.ingest.chunking import first_sentence, last_sentence
from rag.types import Context, Document, Evidence, Quote, Sentence, Source

MAX_QUOTES = 3  # per source
# Without a reader: a source is shown when its best sentence scores within this of the best sentence
# overall. The smallest margin at which the benchmark set's disputed questions show 0.90 of their sources
# (0.12: 0.884, 0.15: 0.907, 0.18: 0.930); each step adds about 0.4 sources to a fact question's answer.
SOURCE_MARGIN = 0.15
# Characters searched on each side of a quote for the sentence next to it: a neighbour longer than this
# is shown cut at the window's edge (still verbatim, with its offsets).
CONTEXT_WINDOW = 400


@dataclass(frozen=True)
class Pick:
    """A candidate sentence and how well it answers: a reader's probability, or extraction's score."""

    sentence: ScoredSentence
    score: float
    answer: tuple[int, int] | None = None  # the short answer's offsets inside the sentence

    @property
    def doc_id(self) -> str:
        return self.sentence.chunk.doc_id


def group(
    picks: Sequence[Pick],
    scored: Sequence[ScoredSentence],
    documents: Mapping[str, Document],
    floor: float,
    max_sources: int,
    judged: bool = False,
) -> tuple[Source, ...]:
    """One Source per document whose best pick reaches ``floor``, most relevant first, at most
    ``max_sources``; each with its best picks (up to MAX_QUOTES, near-duplicates once).

    ``picks`` are best first; ``scored`` are every candidate sentence (where the sentence after a quoted
    question is looked for). With ``judged`` picks (a reader's probabilities) that sentence is quoted only
    when it is a pick that reaches ``floor``; otherwise whatever its score (extraction's scores do not judge
    whether a sentence answers).
    """
    passing = [p for p in picks if p.score >= floor]
    by_doc: dict[str, list[Pick]] = {}
    for p in passing:
        if p.doc_id in by_doc or len(by_doc) < max_sources:
            by_doc.setdefault(p.doc_id, []).append(p)
    following = {
        id(p): next_sentence(p.sentence, scored, documents[p.doc_id])
        for p in passing
        if is_question(p.sentence.sentence.text)
    }
    known = {p.sentence.row: p for p in picks}
    sources = []
    for doc_id, doc_picks in by_doc.items():
        document = documents[doc_id]
        quotes: list[Quote] = []
        for p in doc_picks:
            if len(quotes) >= MAX_QUOTES:
                break
            if any(near_duplicate(p.sentence.sentence.text, q.evidence.text) for q in quotes):
                continue
            nxt = following.get(id(p))
            if nxt is None and id(p) in following:
                continue  # a question with nothing after it to quote
            if nxt is None:
                quotes.append(_quote(p, document))
                continue
            answer = known.get(nxt.row) or Pick(nxt, -math.inf if judged else p.score)
            if (judged and answer.score < floor) or len(quotes) + 2 > MAX_QUOTES:
                continue
            quotes.append(_quote(p, document, after=False))
            if not any(q.evidence.citation.start == nxt.sentence.start for q in quotes):
                quotes.append(_quote(answer, document, before=False, answers_heading=True))
        if quotes:
            sources.append(Source(document, _in_reading_order(quotes)))
    sources.sort(key=lambda s: -s.score)
    return tuple(sources)


def _in_reading_order(quotes: list[Quote]) -> tuple[Quote, ...]:
    """The quotes in document order, without a context sentence that is itself one of the quotes."""
    quotes = sorted(quotes, key=lambda q: q.evidence.citation.start)
    starts = {q.evidence.citation.start for q in quotes}
    return tuple(
        replace(
            q,
            before=None if q.before and q.before.start in starts else q.before,
            after=None if q.after and q.after.start in starts else q.after,
        )
        for q in quotes
    )


Neighbours = tuple[Context | None, Context | None]
# The same sentences are quoted for many questions: their neighbours are kept per document for as long as
# the document is (an index reopened with new Document objects lets the old ones and these go).
_NEIGHBOURS: weakref.WeakKeyDictionary[Document, dict[tuple[int, int], Neighbours]] = weakref.WeakKeyDictionary()


def neighbours(document: Document, start: int, end: int) -> Neighbours:
    """The sentences just before ``start`` and just after ``end`` in the document's clean text."""
    known = _NEIGHBOURS.setdefault(document, {})
    if (start, end) not in known:
        known[start, end] = _neighbours(document.text, start, end)
    return known[start, end]


def _neighbours(text: str, start: int, end: int) -> Neighbours:
    lo = max(0, start - CONTEXT_WINDOW)
    before = last_sentence(text[lo:start], offset=lo)
    after = first_sentence(text[end : end + CONTEXT_WINDOW], offset=end)
    return _context(before), _context(after)


def _context(sentence: Sentence | None) -> Context | None:
    return Context(sentence.text, sentence.start, sentence.end) if sentence else None


def _quote(
    pick: Pick, document: Document, *, before: bool = True, after: bool = True, answers_heading: bool = False
) -> Quote:
    evidence = evidence_of(pick, document)
    context_before, context_after = neighbours(document, evidence.citation.start, evidence.citation.end)
    return Quote(
        evidence,
        context_before if before else None,
        context_after if after else None,
        answers_heading,
    )


def evidence_of(pick: Pick, document: Document) -> Evidence:
    """The pick's sentence as evidence, with the pick's score and its short answer as offsets into the document."""
    start = pick.sentence.sentence.start
    span = pick.answer
    return replace(
        to_evidence(pick.sentence, document),
        score=pick.score,
        answer_start=start + span[0] if span else None,
        answer_end=start + span[1] if span else None,
    )


def next_sentence(
    question: ScoredSentence, scored: Sequence[ScoredSentence], document: Document
) -> ScoredSentence | None:
    """The candidate sentence right after ``question`` in its document (only whitespace between, so the
    next line or paragraph), unless it is a question too."""
    end = question.sentence.end
    after = [s for s in scored if s.chunk.doc_id == document.doc_id and s.sentence.start >= end]
    if not after:
        return None
    nearest = min(after, key=lambda s: s.sentence.start)
    adjacent = not document.text[end : nearest.sentence.start].strip()
    return nearest if adjacent and not is_question(nearest.sentence.text) else None
