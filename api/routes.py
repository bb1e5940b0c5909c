"""The routes: thin calls into the pipeline, answered through rag.serialize and checked by api.schemas."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, PlainTextResponse

from api.deps import QA, DocumentsDep, PipelineDep, slot
from api.errors import HTTPError
from api.metrics import Metrics
from api.schemas import (
    QUESTION_DESCRIPTION,
    QUESTION_SCHEMA,
    AskRequest,
    AskResponse,
    DocumentDetail,
    DocumentSummary,
    ErrorResponse,
    Health,
    QuestionText,
    Ready,
    SearchResponse,
)
from api.security import MAX_BODY_BYTES
from rag.config import MAX_TOP_K
from rag.serialize import answer_to_dict, document_to_dict, hit_to_dict
from rag.types import Document

STATIC_DIR = Path(__file__).parent / "static"
# The page renders untrusted document text; this forbids any script or style it did not ship.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

ERROR_DESCRIPTIONS = {
    400: "Malformed JSON, or a bad request.",
    401: "An API key is configured and the request did not carry it.",
    404: "No such document or route.",
    413: f"The request body is over {MAX_BODY_BYTES // 1024} KiB.",
    415: "The body is not sent as application/json.",
    422: "A parameter is missing or out of range.",
    503: "The model and the index are not loaded (yet, or they failed to load).",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


def json_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For a route whose own responses are not JSON: FastAPI would document its errors in the route's media type."""
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    return {status: {"description": ERROR_DESCRIPTIONS[status], "content": content} for status in statuses}


async def require_json(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise HTTPError(
            415, "unsupported_media_type", f"Content-Type has value '{content_type}'. Send application/json."
        )


router = APIRouter()


@router.post(
    "/ask",
    response_model=AskResponse,
    responses=errors(400, 401, 413, 415, 422, 503),
    dependencies=[Depends(require_json)],
    summary="Answer a question with quoted sentences and their citations",
)
async def ask(body: AskRequest, pipeline: PipelineDep, documents: DocumentsDep) -> dict[str, Any]:
    # One hop to the threadpool and back: a sync route takes two (FastAPI checks a sync route's response on
    # the threadpool too), which cost about a millisecond of a question's twenty on two busy cores.
    return await run_in_threadpool(_answer, pipeline, documents, body.question, body.top_k)


def _answer(pipeline: QA, documents: Mapping[str, Document], question: str, top_k: int | None) -> dict[str, Any]:
    return answer_to_dict(pipeline.ask(question, top_k), documents)


@router.get(
    "/search",
    response_model=SearchResponse,
    responses=errors(401, 413, 422, 503),
    summary="The closest passages to a query",
)
def search(
    q: Annotated[QuestionText, Query(description=QUESTION_DESCRIPTION, json_schema_extra=QUESTION_SCHEMA)],
    pipeline: PipelineDep,
    documents: DocumentsDep,
    top_k: Annotated[
        int | None, Query(ge=1, le=MAX_TOP_K, description="By default the server's RAG_TOP_K (5).")
    ] = None,
) -> dict[str, Any]:
    return {"query": q, "passages": [hit_to_dict(hit, documents) for hit in pipeline.search(q, top_k)]}


@router.get(
    "/documents",
    response_model=list[DocumentSummary],
    responses=errors(401, 413, 503),
    summary="The indexed documents",
)
def list_documents(pipeline: PipelineDep) -> list[dict[str, Any]]:
    return [document_to_dict(document, with_text=False) for document in pipeline.documents()]


@router.get(
    "/documents/{doc_id}",
    response_model=DocumentDetail,
    # 422 cannot happen (any doc_id is a string), but FastAPI would document its own shape for it otherwise.
    responses=errors(401, 404, 413, 422, 503),
    summary="One document with the clean text that citations index into",
)
def get_document(doc_id: str, pipeline: PipelineDep) -> dict[str, Any]:
    return document_to_dict(pipeline.document(doc_id), with_text=True)


@router.get("/healthz", response_model=Health, responses=errors(413), summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=Ready, responses=errors(413, 503), summary="The model and the index are loaded")
def readyz(request: Request) -> dict[str, Any]:
    loaded = slot(request)
    pipeline = loaded.pipeline
    if pipeline is None:
        raise loaded.not_ready()
    pipeline.check()  # a Qdrant server that cannot be reached: 503 (a sync route: runs in the threadpool)
    return {
        "status": "ready",
        "model": pipeline.model_name,
        "documents": pipeline.document_count,
        "chunks": pipeline.chunk_count,
    }


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses=json_errors(401, 413),
    summary="Prometheus metrics in the text format",
)
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics
    assert isinstance(registry, Metrics)
    return Response(registry.render(), media_type=registry.content_type)


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)
