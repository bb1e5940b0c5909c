"""Measure the whole service on any SQuAD-style file: its paragraphs become documents (or, with ``whole``, each
article one document, its paragraphs in order), its questions are asked through the real pipeline (``rag eval
--squad``).

Questions may come from another language's file with the same question ids (XQuAD), so English
questions over Chinese paragraphs are measured as a user would meet them. With ``split`` every other
article is left out of the index: its questions have no answer in the documents and should be declined.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rag.evaluation.metrics import char_f1, locate, reliability
from rag.training.squad import Article
from rag.types import Answer, Document

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.coverage import CoverageModel
    from rag.embedding import Embedder
    from rag.pipeline import Pipeline


@dataclass(frozen=True)
class Asked:
    question: str
    answer: str
    file: str  # the document that holds the paragraph, by file name
    start: int  # the answer's offset in the paragraph
    indexed: bool
    qid: str = ""  # the data set's question id (the same in every XQuAD language)
    paragraph: str = ""  # the paragraph, by its own file name (``file`` too unless articles are whole documents)


@dataclass(frozen=True)
class SquadOutcome:
    indexed: bool
    declined: bool  # not answered: graded not covered, or uncertain (the sources shown with a caveat)
    hit5: bool  # a passage among the first five holds the answer
    supported: bool  # a quoted sentence holds the answer
    exact: float  # the first short answer, exact match
    f1: float
    uncertain: bool = False  # graded uncertain: declined, though its sources are shown
    # What was asked and what came back, for reading the failures (the JSON report's "per_question").
    qid: str = ""
    question: str = ""
    expected: str = ""  # the data set's answer
    grade: str = ""
    predicted: str = ""  # the first short answer, when it is in the answer's document
    first: bool = False  # the first quoted sentence (the one read first) holds the answer
    confidence: float | None = None  # the answer's (null with RAG_CONFIDENCE=off)


def write_documents(
    articles: Sequence[Article],
    target: Path,
    split: bool,
    whole: bool = False,
    leave_out: Callable[[int, int], bool] | None = None,
) -> list[tuple[Article, bool]]:
    """One Markdown file per paragraph, titled by its article (with ``whole``, one per article, its paragraphs in
    order); with ``split`` odd articles are kept out, and ``leave_out(article, paragraph)`` keeps paragraphs out."""
    kept = []
    for ai, article in enumerate(articles):
        indexed = not (split and ai % 2 == 1)
        kept.append((article, indexed))
        if not indexed:
            continue
        front = yaml.safe_dump({"title": article.title or f"article {ai}"}, allow_unicode=True)
        written = [(pi, p.context) for pi, p in enumerate(article.paragraphs) if not (leave_out and leave_out(ai, pi))]
        parts = (
            [(file_name(ai, None), [text for _, text in written])]
            if whole
            else [(file_name(ai, pi), [text]) for pi, text in written]
        )
        for name, texts in parts:
            if texts:
                body = "\n\n".join(texts)
                (target / name).write_text(f"---\n{front}---\n\n{body}\n", "utf-8")
    return kept


def questions_of(
    kept: Sequence[tuple[Article, bool]], asked_as: dict[str, str] | None, whole: bool = False
) -> list[Asked]:
    out = []
    for ai, (article, indexed) in enumerate(kept):
        for pi, para in enumerate(article.paragraphs):
            for qa in para.qas:
                text = qa.question if asked_as is None else asked_as.get(qa.qid)
                if text:
                    file, paragraph = file_name(ai, None if whole else pi), file_name(ai, pi)
                    out.append(Asked(text, qa.answer, file, qa.answer_start, indexed, qa.qid, paragraph))
    return out


def file_name(article: int, paragraph: int | None) -> str:
    """A paragraph's file, or with ``paragraph`` None the whole article's."""
    return f"a{article:04d}.md" if paragraph is None else f"a{article:04d}-p{paragraph:03d}.md"


def answer_span(asked: Asked, document: Document, context: str) -> tuple[int, int] | None:
    """The gold answer's offsets in the document's clean text: at its offset in the paragraph, or where cleaning
    moved it (whitespace), its occurrence in the paragraph nearest that offset; the document's first one only
    when the paragraph itself is not found."""
    at = locate(context, document.text)
    if at is not None:
        expected = at[0] + asked.start
        inside = document.text[at[0] : at[1]]
        found = [at[0] + i for i in range(len(inside)) if inside.startswith(asked.answer, i)] if asked.answer else []
        if found:
            start = min(found, key=lambda i: abs(i - expected))
            return start, start + len(asked.answer)
        near = locate(asked.answer, inside)
        if near is not None:
            return at[0] + near[0], at[0] + near[1]
    return locate(asked.answer, document.text)


def score(asked: Asked, answer: Answer, document: Document | None, span: tuple[int, int] | None) -> SquadOutcome:
    declined, uncertain = not answer.answerable, answer.grade == "uncertain"
    said = SquadOutcome(
        asked.indexed,
        declined,
        hit5=False,
        supported=False,
        exact=0.0,
        f1=0.0,
        uncertain=uncertain,
        qid=asked.qid,
        question=asked.question,
        expected=asked.answer,
        grade=answer.grade,
        confidence=answer.confidence,
    )
    if not asked.indexed or document is None or span is None:
        return said  # nothing to find: what was asked and how it was graded
    doc_id, (start, end) = document.doc_id, span
    hit5 = any(h.chunk.doc_id == doc_id and h.chunk.start <= start < h.chunk.end for h in answer.hits[:5])
    holding = [
        e.citation.doc_id == doc_id and e.citation.start <= start and end <= e.citation.end for e in answer.evidence
    ]
    supported, first = any(holding), bool(holding) and holding[0]
    short = next((e for e in answer.evidence if e.answer_start is not None and e.answer_end is not None), None)
    predicted = ""
    if short is not None and short.citation.doc_id == doc_id:
        predicted = document.text[short.answer_start : short.answer_end]
    exact = float("".join(predicted.split()) == "".join(asked.answer.split()))
    f1 = char_f1(predicted, asked.answer)
    return dataclasses.replace(
        said, hit5=hit5, supported=supported, exact=exact, f1=f1, predicted=predicted, first=first
    )


def summarize_squad(outcomes: Sequence[SquadOutcome]) -> dict[str, Any]:
    covered = [o for o in outcomes if o.indexed]
    uncovered = [o for o in outcomes if not o.indexed]
    answered = [o for o in covered if not o.declined]

    def mean(values: Sequence[float]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    return {
        "questions": len(covered),
        "hit@5": mean([o.hit5 for o in covered]),
        "evidence_holds_answer": mean([o.supported for o in covered]),
        # The choice of sentences apart from the decision: among the answerable questions answered.
        "evidence_holds_answer_when_answered": mean([o.supported for o in answered]),
        "first_evidence_holds_answer": mean([o.first for o in covered]),
        "answerable_declined": mean([o.declined for o in covered]),
        "answerable_uncertain": mean([o.uncertain for o in covered]),  # part of the declined
        "short_answer_exact": mean([o.exact for o in covered]),
        "short_answer_f1": mean([o.f1 for o in covered]),
        "not_indexed_questions": len(uncovered),
        "not_indexed_declined": mean([o.declined for o in uncovered]),
        "not_indexed_uncertain": mean([o.uncertain for o in uncovered]),
        # Whether the confidence reads as a probability that the documents answer (here: the article is indexed).
        **reliability([(o.confidence, o.indexed) for o in outcomes if o.confidence is not None]),
        "per_question": [
            {
                "id": o.qid,
                "question": o.question,
                "indexed": o.indexed,
                "grade": o.grade,
                "evidence_holds_answer": o.supported,
                "first_evidence_holds_answer": o.first,
                "hit@5": o.hit5,
                "expected": o.expected,
                "short_answer": o.predicted,
                "confidence": o.confidence,
            }
            for o in outcomes
        ],
    }


@dataclass(frozen=True)
class SquadIndex:
    """Articles' paragraphs (or, with ``whole``, articles) indexed as documents, with the loaded pipeline over them."""

    pipeline: Any
    kept: list[tuple[Article, bool]]
    left_out: frozenset[str]  # paragraphs of indexed articles kept out of the index too (near misses)
    by_file: dict[str, Document]
    contexts: dict[str, str]  # each paragraph's text, by file name
    whole: bool = False  # each article one document

    def questions(self, asked_as: dict[str, str] | None) -> list[Asked]:
        """Every question; one whose paragraph was left out is not indexed."""
        asked = questions_of(self.kept, asked_as, self.whole)
        return [dataclasses.replace(a, indexed=False) if a.paragraph in self.left_out else a for a in asked]

    def kind(self, asked: Asked) -> str:
        """ "near" (its paragraph was left out of an indexed article), "answerable" or "not_indexed"."""
        return "near" if asked.paragraph in self.left_out else "answerable" if asked.indexed else "not_indexed"

    def gold(self, asked: Asked) -> tuple[Document, tuple[int, int]] | None:
        """The indexed document that holds the answer, and the answer's offsets in it."""
        document = self.by_file.get(asked.file)
        span = answer_span(asked, document, self.contexts[asked.paragraph]) if document else None
        return None if document is None or span is None else (document, span)


def every_fourth_paragraph(article: int, paragraph: int) -> bool:
    """The ``leave_out`` of ``squad_index`` that makes near misses: paragraph 4k+3 of each indexed article."""
    return paragraph % 4 == 3


def opener(
    settings: Settings, embedder: Embedder, coverage: CoverageModel | None = None
) -> Callable[[Path, Path], Pipeline]:
    """The ``open_pipeline`` of ``squad_index``: ``settings`` scoped to the documents and the index directory,
    the index built, and the pipeline over it (with ``coverage`` instead of the shipped model, when given)."""
    from rag.indexing import build_index
    from rag.pipeline import Pipeline
    from rag.stores import open_backend

    def open_pipeline(documents: Path, index: Path) -> Pipeline:
        scoped = dataclasses.replace(settings, seeds_dir=documents, index_dir=index)
        build_index(scoped, embedder, open_backend(scoped), [documents])
        return Pipeline.from_settings(scoped, embedder=embedder, coverage=coverage)

    return open_pipeline


@contextmanager
def squad_index(
    articles: Sequence[Article],
    split: bool,
    open_pipeline: Callable[[Path, Path], Any],
    leave_out: Callable[[int, int], bool] | None = None,
    whole: bool = False,
) -> Iterator[SquadIndex]:
    """``open_pipeline(documents_dir, index_dir)`` builds the index and returns a loaded pipeline; the index
    lasts as long as the context. ``leave_out(article, paragraph)`` keeps paragraphs of indexed articles out;
    ``whole`` indexes each article as one document."""
    with tempfile.TemporaryDirectory(prefix="rag-squad-") as tmp:
        docs, index = Path(tmp) / "documents", Path(tmp) / "index"
        docs.mkdir()
        kept = write_documents(articles, docs, split, whole, leave_out)
        left_out = frozenset(
            file_name(ai, pi)
            for ai, (article, indexed) in enumerate(kept)
            for pi in range(len(article.paragraphs))
            if indexed and leave_out and leave_out(ai, pi)
        )
        pipeline = open_pipeline(docs, index)
        by_file = {d.source_file: d for d in pipeline.documents()}
        contexts = {file_name(ai, pi): p.context for ai, (a, _) in enumerate(kept) for pi, p in enumerate(a.paragraphs)}
        yield SquadIndex(pipeline, kept, left_out, by_file, contexts, whole)


def evaluate_squad(
    articles: Sequence[Article],
    asked_as: dict[str, str] | None,
    split: bool,
    open_pipeline: Callable[[Path, Path], Any],
    top_k: int = 5,
    whole: bool = False,
) -> dict[str, Any]:
    """``open_pipeline(documents_dir, index_dir)`` builds the index and returns a loaded pipeline; ``whole``
    indexes each article as one document."""
    outcomes = []
    with squad_index(articles, split, open_pipeline, whole=whole) as indexed:
        for asked in indexed.questions(asked_as):
            found = indexed.gold(asked)
            document, span = found if found else (indexed.by_file.get(asked.file), None)
            outcomes.append(score(asked, indexed.pipeline.ask(asked.question, top_k), document, span))
    return summarize_squad(outcomes)
