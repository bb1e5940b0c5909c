"""The JSON shapes that `rag ask --json` prints and the HTTP API returns: one definition for both.

Plain functions from the dataclasses in rag.types to dicts of JSON types. Every ``start``/``end`` is a
character offset into the document's clean text, so ``document["text"][start:end]`` is the quoted text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rag.types import Answer, Citation, Context, Document, Evidence, Hit, Quote, Source

if TYPE_CHECKING:
    from rag.indexing import Built
    from rag.library import Added, Outcome

SCORE_DECIMALS = 4
TIMING_DECIMALS = 2


def answer_to_dict(answer: Answer, documents: Mapping[str, Document]) -> dict[str, Any]:
    return {
        "question": answer.question,
        "answerable": answer.answerable,
        "grade": answer.grade,
        "confidence": answer.confidence,
        "answer": answer.answer,
        "evidence": [evidence_to_dict(e) for e in answer.evidence],
        "sources": [source_to_dict(s) for s in answer.sources],
        "passages": [hit_to_dict(h, documents) for h in answer.hits],
        "timings_ms": {name: round(float(ms), TIMING_DECIMALS) for name, ms in answer.timings_ms.items()},
    }


def evidence_to_dict(evidence: Evidence) -> dict[str, Any]:
    return {
        "text": evidence.text,
        "score": _score(evidence.score),
        "citation": citation_to_dict(evidence.citation),
        "answer_start": evidence.answer_start,
        "answer_end": evidence.answer_end,
    }


def source_to_dict(source: Source) -> dict[str, Any]:
    doc = source.document
    return {
        "doc_id": doc.doc_id,
        "source_file": doc.source_file,
        "title": doc.title,
        "url": doc.url,
        "published": doc.published,
        "score": _score(source.score),
        "quotes": [quote_to_dict(q) for q in source.quotes],
    }


def quote_to_dict(quote: Quote) -> dict[str, Any]:
    e = quote.evidence
    return {
        "text": e.text,
        "score": _score(e.score),
        "chunk_id": e.citation.chunk_id,
        "start": e.citation.start,
        "end": e.citation.end,
        "page": e.citation.page,
        "answer_start": e.answer_start,
        "answer_end": e.answer_end,
        "answers_heading": quote.answers_heading,
        "context_before": _context(quote.before),
        "context_after": _context(quote.after),
    }


def _context(context: Context | None) -> dict[str, Any] | None:
    return None if context is None else {"text": context.text, "start": context.start, "end": context.end}


def citation_to_dict(citation: Citation) -> dict[str, Any]:
    return {
        "doc_id": citation.doc_id,
        "source_file": citation.source_file,
        "title": citation.title,
        "url": citation.url,
        "published": citation.published,
        "chunk_id": citation.chunk_id,
        "start": citation.start,
        "end": citation.end,
        "page": citation.page,
    }


def hit_to_dict(hit: Hit, documents: Mapping[str, Document]) -> dict[str, Any]:
    """A passage: the retrieved chunk, named by the document it comes from."""
    chunk = hit.chunk
    document = documents[chunk.doc_id]
    return {
        "chunk_id": chunk.chunk_id,
        "doc_id": chunk.doc_id,
        "source_file": document.source_file,
        "title": document.title,
        "text": chunk.text,
        "score": _score(hit.score),
        "start": chunk.start,
        "end": chunk.end,
    }


def document_to_dict(document: Document, with_text: bool) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "doc_id": document.doc_id,
        "source_file": document.source_file,
        "title": document.title,
        "author": document.author,
        "published": document.published,
        "url": document.url,
        "language": document.language,
        "chars": len(document.text),
    }
    if with_text:
        summary["text"] = document.text
    return summary


def added_to_dict(added: Added) -> dict[str, Any]:
    """An upload's answer: each file's outcome, in the order sent, and the rebuild (None when all were refused)."""
    return {
        "files": [outcome_to_dict(outcome) for outcome in added.files],
        "index": built_to_dict(added.built) if added.built else None,
    }


def outcome_to_dict(outcome: Outcome) -> dict[str, Any]:
    """One uploaded file: the document it became, or why it was refused."""
    document = outcome.document
    return {
        "name": outcome.name,
        "accepted": document is not None,
        "doc_id": document.doc_id if document else None,
        "title": document.title if document else None,
        "stored_as": outcome.stored_as,
        "reason": outcome.reason,
    }


def built_to_dict(built: Built) -> dict[str, Any]:
    """What a rebuild made, and what it had to embed anew."""
    changes = built.changes
    return {
        "documents": built.manifest.documents,
        "chunks": built.manifest.chunks,
        "added": changes.added,
        "changed": changes.changed,
        "removed": changes.removed,
        "unchanged": changes.unchanged,
        "embedded_passages": changes.embedded_passages,
        "embedded_sentences": changes.embedded_sentences,
        "reused_vectors": changes.reused_vectors,
        "notes": built.notes,
    }


def _score(value: float) -> float:
    # float() first: scores often arrive as numpy.float32, which json.dumps cannot encode.
    return round(float(value), SCORE_DECIMALS)
