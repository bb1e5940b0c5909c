"""The HTTP contract as pydantic models; the only place pydantic appears.

Response bodies are built by rag.serialize (shared with the CLI) and validated through these models.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from rag.config import MAX_QUESTION_CHARS, MAX_TOP_K

# Exactly the characters str.strip() removes, spelled out: `\s` means different things in Python,
# Rust (pydantic, schemathesis) and JavaScript, and the schema must say what the server does.
WHITESPACE_CLASS = r"\t\n\v\f\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
QUESTION_PATTERN = (
    rf"^[{WHITESPACE_CLASS}]*[^{WHITESPACE_CLASS}]"
    rf"(?:[\s\S]{{0,{MAX_QUESTION_CHARS - 2}}}[^{WHITESPACE_CLASS}])?[{WHITESPACE_CLASS}]*$"
)
QUESTION_DESCRIPTION = f"1 to {MAX_QUESTION_CHARS} characters once surrounding whitespace is trimmed."


def trimmed_question(value: str) -> str:
    trimmed = value.strip()
    if not 1 <= len(trimmed) <= MAX_QUESTION_CHARS:
        raise PydanticCustomError(
            "question_length",
            "must have 1 to {limit} characters after trimming whitespace, not {length}",
            {"limit": MAX_QUESTION_CHARS, "length": len(trimmed)},
        )
    try:
        trimmed.encode("utf-8")
    except UnicodeEncodeError:
        # JSON can carry a lone surrogate ("\ud800"); no answer could be encoded back.
        raise PydanticCustomError("question_text", "must be valid Unicode text (it has a lone surrogate)") from None
    return trimmed


def json_integer(value: object) -> object:
    # JSON Schema counts 14.0 as an integer, but not true or "14": pydantic's lax mode takes all three, strict none.
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


QuestionText = Annotated[str, AfterValidator(trimmed_question)]
QUESTION_SCHEMA: JsonDict = {"pattern": QUESTION_PATTERN}


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    question: QuestionText = Field(description=QUESTION_DESCRIPTION, json_schema_extra=QUESTION_SCHEMA)
    top_k: Annotated[int | None, BeforeValidator(json_integer)] = Field(
        None,
        strict=False,
        ge=1,
        le=MAX_TOP_K,
        description="How many sources and passages, at most; by default the server's RAG_TOP_K (5).",
    )


class Citation(BaseModel):
    doc_id: str
    source_file: str
    title: str
    url: str | None
    published: str | None
    chunk_id: str
    start: int = Field(description="Offset into the document's text: text[start:end] is the quoted sentence.")
    end: int
    page: int | None = Field(description="The 1-based page the quote starts on, for a PDF (null otherwise).")


class Evidence(BaseModel):
    text: str
    score: float = Field(
        description="The reader's probability that the sentence answers (RAG_READER=off: a similarity)."
    )
    citation: Citation
    answer_start: int | None = Field(
        description="The short answer inside the sentence, as offsets into the document's text (null when none)."
    )
    answer_end: int | None


class Context(BaseModel):
    text: str
    start: int = Field(description="Offset into the document's text: text[start:end] is this sentence.")
    end: int


class Quote(BaseModel):
    text: str
    score: float = Field(
        description="The reader's probability that the sentence answers (RAG_READER=off: extraction's score)."
    )
    chunk_id: str
    start: int = Field(description="Offset into the document's text: text[start:end] is the quoted sentence.")
    end: int
    page: int | None = Field(description="The 1-based page the quote starts on, for a PDF (null otherwise).")
    answer_start: int | None = Field(
        description="The short answer inside the sentence, as offsets into the document's text (null when none)."
    )
    answer_end: int | None
    answers_heading: bool = Field(
        description="True for the sentence after a quoted question (a heading), quoted for what it answers."
    )
    context_before: Context | None = Field(description="The sentence before the quote in the document (null: none).")
    context_after: Context | None = Field(description="The sentence after the quote in the document (null: none).")


class Source(BaseModel):
    doc_id: str
    source_file: str
    title: str
    url: str | None
    published: str | None
    score: float = Field(description="The best quote's score: sources are ordered by it.")
    quotes: list[Quote] = Field(description="1 to 3 of the document's best sentences, in the document's order.")


class Passage(BaseModel):
    chunk_id: str
    doc_id: str
    source_file: str
    title: str
    text: str
    score: float
    start: int = Field(description="Offset into the document's text: text[start:end] is the passage.")
    end: int


class AskResponse(BaseModel):
    question: str
    answerable: bool = Field(description="False when the documents do not cover the question.")
    grade: Literal["answered", "uncertain", "not_covered"] = Field(
        description="answered: the evidence answers (answerable is true); uncertain: the sources are shown but may "
        "not answer; not_covered: only the closest passages are shown."
    )
    confidence: float | None = Field(
        description="The probability (0-1) that the documents answer the question: the coverage model's (the "
        "reader's with RAG_READER=on), which the grade is drawn from (README: thresholds, definitional questions)."
    )
    answer: str
    evidence: list[Evidence] = Field(description="The answer's sentences, best first (empty unless answered).")
    sources: list[Source] = Field(
        description="What each document says, most relevant first, with context (empty when not covered)."
    )
    passages: list[Passage] = Field(description="The closest passages, answerable or not.")
    timings_ms: dict[str, float]


class SearchResponse(BaseModel):
    query: str
    passages: list[Passage]


class DocumentSummary(BaseModel):
    doc_id: str
    source_file: str
    title: str
    author: str | None
    published: str | None = Field(description="ISO 8601 date, when known.")
    url: str | None
    language: str
    chars: int


class DocumentDetail(DocumentSummary):
    text: str = Field(description="The clean text that every start/end offset indexes into.")


class IndexBuild(BaseModel):
    documents: int
    chunks: int
    added: int
    changed: int
    removed: int
    unchanged: int
    embedded_passages: int = Field(description="Passages embedded anew; the rest kept their stored vectors.")
    embedded_sentences: int
    reused_vectors: int
    notes: list[str] = Field(description="Files the build skipped, with the reason.")


class UploadedFile(BaseModel):
    name: str = Field(description="The file name as sent.")
    accepted: bool = Field(description="Kept and indexed.")
    doc_id: str | None
    title: str | None
    stored_as: str | None = Field(description="Where the file was kept, relative to RAG_SEEDS_DIR.")
    reason: str | None = Field(description="Why the file was refused (null when it was accepted).")


class UploadResponse(BaseModel):
    files: list[UploadedFile] = Field(description="One per file, in the order sent.")
    index: IndexBuild | None = Field(description="The rebuild; null when every file was refused.")


class DeleteResponse(BaseModel):
    doc_id: str
    deleted: str = Field(description="The file removed, relative to RAG_SEEDS_DIR.")
    index: IndexBuild


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    model: str
    documents: int
    chunks: int


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable: e.g. bad_query, document_not_found, index_missing.")
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class BuildRecord(BaseModel):
    id: str = Field(description="Follow it at GET /index/builds/{id}.")
    kind: Literal["upload", "rebuild"] = Field(description="POST /documents or POST /index/rebuild.")
    status: Literal["queued", "running", "done", "failed"] = Field(
        description="queued: waiting for an earlier write; running: (keeping the files and) rebuilding the index; "
        "done: `result` holds what the write answers when it waits; failed: `error` says why."
    )
    files: int = Field(description="How many files the upload carried (0 for a rebuild).")
    created: str = Field(description="When the write was accepted, ISO 8601, UTC.")
    finished: str | None = Field(description="When the build finished or failed.")
    result: UploadResponse | IndexBuild | None = Field(
        description="Once done: each file's outcome and the rebuild (an upload), or the rebuild's figures."
    )
    error: ErrorDetail | None = Field(
        description="Why it failed: the code and message the waiting write would have answered with; "
        "`interrupted` when the server stopped before the build finished."
    )
