"""Every error leaves the service as ``{"error": {"code", "message"}}``; RagErrors are mapped to statuses here only."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    BadQueryError,
    DocumentNotFoundError,
    IndexMissingError,
    IndexStaleError,
    ModelError,
    NotDeletableError,
    RagError,
    SeedsNotWritableError,
    StoreUnavailableError,
    UploadTooLargeError,
)

logger = logging.getLogger("api")

RAG_ERROR_STATUS: dict[type[RagError], int] = {
    BadQueryError: 422,
    DocumentNotFoundError: 404,
    IndexMissingError: 503,
    IndexStaleError: 503,
    ModelError: 503,
    StoreUnavailableError: 503,
    NotDeletableError: 409,
    SeedsNotWritableError: 403,
    UploadTooLargeError: 413,
}
OTHER_RAG_ERROR_STATUS = 400

CODE_FOR_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal_error",
    503: "unavailable",
}


class HTTPError(Exception):
    """An error the HTTP layer itself raises (auth, content type, readiness), with its status and code."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def status_for(error: RagError) -> int:
    for cls in type(error).__mro__:
        if cls in RAG_ERROR_STATUS:
            return RAG_ERROR_STATUS[cls]
    return OTHER_RAG_ERROR_STATUS


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RagError, _rag_error)
    app.add_exception_handler(HTTPError, _http_error)
    app.add_exception_handler(StarletteHTTPException, _starlette_http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Starlette hands this one to its outermost middleware, which re-raises after answering: the server
    # still sees the bug, the client gets JSON rather than a traceback.
    app.add_exception_handler(Exception, _unexpected)


async def _rag_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RagError)
    return error_response(status_for(exc), exc.code, str(exc))


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _starlette_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = CODE_FOR_STATUS.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        message = f"Nothing at {request.method} {request.url.path}."
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
        headers = dict(exc.headers or {})
        return error_response(405, code, message, {**headers, "Allow": _allowed(request, headers.get("Allow", ""))})
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, code, message, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    malformed = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if malformed is not None:
        reason = malformed.get("ctx", {}).get("error", "not JSON")
        position = malformed["loc"][-1]
        return error_response(
            400, "malformed_json", f"The request body is not valid JSON: {reason} at char {position}."
        )
    return error_response(422, "invalid_request", "; ".join(_describe(e) for e in errors) or "Invalid request.")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "Internal error; the server log has the details.")


def _allowed(request: Request, named: str) -> str:
    # Starlette names the methods of the first route on the path only, and GET and POST /documents are two
    # routes: the schema lists them all.
    methods = {m.strip() for m in named.split(",") if m.strip()}
    path = request.url.path.split("/")
    for template, operations in request.app.openapi().get("paths", {}).items():
        parts = template.split("/")
        if len(parts) == len(path) and all(
            p == q or (p.startswith("{") and q) for p, q in zip(parts, path, strict=True)
        ):
            methods |= {method.upper() for method in operations}
    return ", ".join(sorted(methods))


def _describe(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())) or "request"
    message = f"{where}: {error.get('msg', 'invalid')}"
    value = error.get("input")
    if error.get("type") != "missing" and not isinstance(value, dict | list):
        message += f" (got {_short(value)})"
    return message


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
