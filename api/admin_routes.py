"""The write routes: add documents, delete one, rebuild the index; an upload or a rebuild can also be followed.

Thin calls into rag.library.

They need RAG_API_KEY: without it api.security refuses them (403) before the body is read, and the
dependency below does again, should the middleware ever be wired differently.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from api.deps import LibraryDep, pipeline
from api.errors import HTTPError
from api.schemas import BuildRecord, DeleteResponse, ErrorResponse, IndexBuild, UploadResponse
from api.security import WRITES_NEED_KEY
from rag.jobs import KEEP_SECONDS, Job
from rag.library import Upload
from rag.serialize import added_to_dict, built_to_dict

UPLOAD_PATH = "/documents"
BUILD_PATH = "/index/builds"

ERROR_DESCRIPTIONS = {
    400: "A malformed multipart body, or nothing would be left to index.",
    401: "The request did not carry the API key.",
    403: "Writes are turned off: RAG_API_KEY is not set on the server (writes_disabled), or RAG_SEEDS_DIR cannot be "
    "written (seeds_not_writable).",
    404: "No document with this doc_id.",
    409: "The document cannot be deleted here (its file is not inside RAG_SEEDS_DIR, or it is the last one).",
    413: "The upload is over RAG_MAX_UPLOAD_MB in all, or carries more than RAG_MAX_UPLOAD_FILES files.",
    422: "The files field is missing.",
    503: "The model and the index are not loaded (yet, or they failed to load).",
}
FILES_DESCRIPTION = (
    "One or more .txt, .md, .html, .pdf or .docx files (the content decides the format). Each is read as "
    "`rag index` reads it; a file that would not be indexed is refused with the reason."
)
WAIT_DESCRIPTION = (
    "true: answer once the index is rebuilt (embedding a large file takes minutes). false: answer 202 at once "
    "(an upload once its files are read), with a build to follow at GET /index/builds/{id}."
)
ACCEPTED = {
    "model": BuildRecord,
    "description": "With wait=false: the build is queued; the Location header says where to follow it.",
}
Wait = Annotated[bool, Query(description=WAIT_DESCRIPTION)]


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


def document_upload_limit(schema: dict[str, Any], max_files: int) -> None:
    """Say in an OpenAPI schema how many files one upload may carry (RAG_MAX_UPLOAD_FILES)."""
    body = schema.get("components", {}).get("schemas", {}).get("Body_upload_documents", {})
    files = body.get("properties", {}).get("files")
    if files is not None:
        files["maxItems"] = max_files


async def writes_enabled(request: Request) -> None:
    if request.app.state.settings.api_key is None:
        raise HTTPError(403, "writes_disabled", WRITES_NEED_KEY)


# The pipeline dependency answers 503 before any work while the model and the index are loading.
router = APIRouter(dependencies=[Depends(writes_enabled), Depends(pipeline)])


@router.post(
    UPLOAD_PATH,
    response_model=UploadResponse,
    responses={**errors(400, 401, 403, 413, 422, 503), 202: ACCEPTED},
    summary="Add documents: each file gets its doc_id or the reason it was refused; the index is rebuilt once",
)
def upload_documents(
    files: Annotated[list[UploadFile], File(description=FILES_DESCRIPTION, min_length=1)],
    library: LibraryDep,
    wait: Wait = True,
) -> dict[str, Any] | JSONResponse:
    # A plain def: FastAPI runs it in a worker thread, where checking files and rebuilding may block.
    uploads = [Upload(f.filename or "", f.content_type, f.file) for f in files]
    if wait:
        return added_to_dict(library.add(uploads))
    return accepted(library.add_later(uploads))


@router.delete(
    "/documents/{doc_id}",
    response_model=DeleteResponse,
    responses=errors(400, 401, 403, 404, 409, 422, 503),
    summary="Delete a document's file from RAG_SEEDS_DIR and rebuild the index without it",
)
def delete_document(doc_id: str, library: LibraryDep) -> dict[str, Any]:
    deleted = library.delete(doc_id)
    return {"doc_id": deleted.document.doc_id, "deleted": deleted.stored_as, "index": built_to_dict(deleted.built)}


@router.post(
    "/index/rebuild",
    response_model=IndexBuild,
    responses={**errors(400, 401, 403, 503), 202: ACCEPTED},
    summary="Rebuild the index of RAG_SEEDS_DIR, embedding only new and changed text",
)
def rebuild_index(library: LibraryDep, wait: Wait = True) -> dict[str, Any] | JSONResponse:
    if wait:
        return built_to_dict(library.rebuild())
    return accepted(library.rebuild_later())


@router.get(
    BUILD_PATH,
    response_model=list[BuildRecord],
    responses=errors(401, 403, 503),
    summary="The recent uploads and rebuilds sent with wait=false, the newest first (finished ones kept 7 days)",
)
def recent_builds(library: LibraryDep, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[dict[str, Any]]:
    return [asdict(job) for job in library.jobs.recent(limit)]


@router.get(
    BUILD_PATH + "/{build_id}",
    response_model=BuildRecord,
    responses={
        **errors(401, 403, 503),
        404: {"model": ErrorResponse, "description": "No build with this id (or one finished over 7 days ago)."},
    },
    summary="Follow an upload or a rebuild sent with wait=false: queued, running, then done with its answer, or failed",
)
def build_status(build_id: str, library: LibraryDep) -> dict[str, Any]:
    job = library.jobs.get(build_id)
    if job is None:
        kept = f"finished ones are kept {KEEP_SECONDS // 86400} days"
        raise HTTPError(404, "build_not_found", f"no build with id {build_id!r} ({kept})")
    return asdict(job)


def accepted(job: Job) -> JSONResponse:
    return JSONResponse(asdict(job), status_code=202, headers={"Location": f"{BUILD_PATH}/{job.id}"})
