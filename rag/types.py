"""The data that flows from stage to stage: Document -> Chunk -> Hit -> Evidence -> Answer.

Every offset is a character offset into ``Document.text`` (the clean text), so that
``document.text[start:end] == quoted_text`` can be checked by anyone.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Document:
    doc_id: str
    source_file: str
    title: str
    author: str | None
    published: str | None  # ISO 8601
    url: str | None
    language: str
    text: str
    # Where each page starts in ``text``, for a paged format (PDF); empty otherwise. An index stores
    # documents as JSON, which gives back a list: kept a tuple so that a Document stays hashable.
    page_starts: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "page_starts", tuple(self.page_starts))

    def page_at(self, offset: int) -> int | None:
        """The 1-based page that holds the character at ``offset``; None for a document without pages."""
        if not self.page_starts:
            return None
        return max(bisect_right(self.page_starts, offset), 1)


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    index: int
    start: int
    end: int
    text: str
    sentences: tuple[Sentence, ...]


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True)
class Corpus:
    documents: tuple[Document, ...]
    skipped: tuple[Skipped, ...] = ()
    duplicates: tuple[Skipped, ...] = ()


@dataclass(frozen=True)
class Hit:
    """A retrieved passage: its fused score and rank, and where each retriever ranked it."""

    chunk: Chunk
    score: float
    rank: int
    retrievers: dict[str, tuple[int, float]] = field(default_factory=dict)  # name -> (rank, score)

    def ranked_by(self, retriever: str) -> tuple[int, float] | None:
        """(rank, score) from ``retriever``, or None when it did not rank this passage."""
        return self.retrievers.get(retriever)


@dataclass(frozen=True)
class Candidate:
    """A sentence as the reader reads it: with its document's title and the sentence before it."""

    title: str
    before: str
    sentence: str


@dataclass(frozen=True)
class Reading:
    probability: float  # calibrated probability that the sentence answers the question
    answer: tuple[int, int] | None  # the short answer's offsets inside the sentence


@dataclass(frozen=True)
class Citation:
    doc_id: str
    source_file: str
    title: str
    url: str | None
    published: str | None
    chunk_id: str
    start: int
    end: int
    page: int | None = None  # 1-based, for a document with pages (PDF)


@dataclass(frozen=True)
class Evidence:
    text: str
    score: float  # the reader's probability that it answers, or today's sentence score without a reader
    citation: Citation
    answer_start: int | None = None  # the short answer, as offsets into the document's text
    answer_end: int | None = None


@dataclass(frozen=True)
class Context:
    """A sentence next to a quote, shown lighter around it: ``document.text[start:end] == text``."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Quote:
    """One of a source's best sentences, with the sentences around it."""

    evidence: Evidence
    before: Context | None
    after: Context | None
    # True for the sentence that follows a quoted question (a heading such as "DeepSeek蒸馏ChatGPT的谣言是
    # 如何产生的？"), shown because the question alone says nothing of what its source concludes.
    answers_heading: bool = False


@dataclass(frozen=True)
class Source:
    """What one document says about the question: 1 to 3 quotes, in the document's order."""

    document: Document
    quotes: tuple[Quote, ...]

    @property
    def score(self) -> float:
        return max(q.evidence.score for q in self.quotes)


# answered: the evidence answers (``answerable``); uncertain: evidence shown, labelled as possibly not
# answering; not_covered: only the closest passages are shown.
Grade = Literal["answered", "uncertain", "not_covered"]
GRADES: tuple[Grade, ...] = ("answered", "uncertain", "not_covered")


@dataclass(frozen=True)
class Answer:
    question: str
    answerable: bool
    answer: str
    evidence: tuple[Evidence, ...]
    hits: tuple[Hit, ...]
    # The probability (0-1) that the documents answer: the coverage model's, or the reader's with one; None: not judged.
    confidence: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    grade: Grade = "not_covered"
    sources: tuple[Source, ...] = ()  # grouped by document, most relevant first; empty when not covered
