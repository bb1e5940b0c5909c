"""The write routes: add documents, delete one, rebuild the index. Thin calls into rag.library.

They need RAG_API_KEY: without it api.security refuses them (403) before the body is read, and the
dependency below does again, should the middleware ever be wired differently.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile

from api.deps import LibraryDep, pipeline
from api.errors import HTTPError
from api.schemas import DeleteResponse, ErrorResponse, IndexBuild, UploadResponse
from api.security import WRITES_NEED_KEY
from rag.library import Upload
from rag.serialize import built_to_dict, outcome_to_dict

UPLOAD_PATH = "/documents"

ERROR_DESCRIPTIONS = {
    400: "A malformed multipart body, or nothing would be left to index.",
    401: "The request did not carry the API key.",
    403: "RAG_API_KEY is not set on the server: writes are turned off.",
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
    responses=errors(400, 401, 403, 413, 422, 503),
    summary="Add documents: each file gets its doc_id or the reason it was refused; the index is rebuilt once",
)
def upload_documents(
    files: Annotated[list[UploadFile], File(description=FILES_DESCRIPTION, min_length=1)], library: LibraryDep
) -> dict[str, Any]:
    # A plain def: FastAPI runs it in a worker thread, where checking files and rebuilding may block.
    added = library.add([Upload(f.filename or "", f.content_type, f.file) for f in files])
    return {
        "files": [outcome_to_dict(outcome) for outcome in added.files],
        "index": built_to_dict(added.built) if added.built else None,
    }


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
    responses=errors(400, 401, 403, 503),
    summary="Rebuild the index of RAG_SEEDS_DIR, embedding only new and changed text",
)
def rebuild_index(library: LibraryDep) -> dict[str, Any]:
    return built_to_dict(library.rebuild())
