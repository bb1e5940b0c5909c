"""Request guards as plain ASGI middleware: the optional API key, the write routes that need it, and body limits.

They run before routing, so they cover every route, mounted files and unknown paths alike.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

MAX_BODY_BYTES = 64 * 1024

# The page, its files and the API docs hold no data: browsers load them without a header, and the
# page and the docs then send the key that the user types. The probes stay open for orchestrators.
PUBLIC_PATHS = frozenset({"/", "/healthz", "/readyz", "/docs", "/openapi.json"})
PUBLIC_PREFIXES = ("/static/", "/docs/")


WRITES_NEED_KEY = (
    "Adding, deleting and reindexing documents is turned off: set RAG_API_KEY on the server "
    "and send it as 'Authorization: Bearer <key>'."
)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def is_write(method: str, path: str) -> bool:
    """The routes that change the documents: POST /documents, DELETE /documents/{doc_id}, POST /index/rebuild."""
    if method == "POST":
        return path in ("/documents", "/index/rebuild")
    return method == "DELETE" and path.startswith("/documents/")


def document_bearer(schema: dict[str, Any]) -> None:
    """Declare the key in an OpenAPI schema, so that /docs offers to send it."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["apiKey"] = {"type": "http", "scheme": "bearer", "description": "The server's RAG_API_KEY."}
    for path, operations in schema.get("paths", {}).items():
        if not is_public(path):
            for operation in operations.values():
                operation["security"] = [{"apiKey": []}]


def bearer_token(authorization: str | None) -> bytes | None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    # Starlette decodes header bytes as latin-1; encoding back gives the bytes the client sent.
    return token.strip().encode("latin-1")


class BearerAuth:
    """``Authorization: Bearer <key>`` on every non-public path when a key is configured.

    Without a key, the write routes are refused (403) before their body is read: anyone who can reach
    the server could otherwise change what it answers from.
    """

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.key = api_key.encode("utf-8") if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.key is None and is_write(scope["method"], scope["path"]):
            await error_response(403, "writes_disabled", WRITES_NEED_KEY)(scope, receive, send)
            return
        if self.key is None or scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        token = bearer_token(Headers(scope=scope).get("authorization"))
        if token is not None and hmac.compare_digest(token, self.key):
            await self.app(scope, receive, send)
            return
        message = (
            "The API key is not valid." if token else "An API key is required: send 'Authorization: Bearer <key>'."
        )
        response = error_response(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


class BodyLimit:
    """Answers 413 when a request body exceeds its limit, by its Content-Length or by the bytes that arrive.

    A JSON body is read here in full (it is small by construction) and replayed to the app, so a client
    that lies about Content-Length or streams chunks without one is stopped all the same. An upload
    (a POST to a path in ``uploads``, with its own limit) streams through to the app, which spools it to
    disk; the bytes are counted on the way, and once over the limit the app's answer is replaced by the 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, uploads: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = dict(uploads or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["method"] == "POST" and scope["path"] in self.uploads
        limit = self.uploads[scope["path"]] if upload else self.max_bytes
        declared = Headers(scope=scope).get("content-length")
        # isascii(): "²" is a digit to isdigit() but not to int().
        if declared is not None and not (declared.isascii() and declared.isdigit()):
            response = error_response(400, "bad_request", f"Content-Length has value '{declared}'. Not an integer.")
            await response(scope, receive, send)
            return
        if declared is not None and int(declared) > limit:
            await _too_large(limit, scope, receive, send)
            return
        if upload:
            await self._stream(limit, scope, receive, send)
            return
        try:
            body = await self._read(receive)
        except _TooLarge:
            await _too_large(limit, scope, receive, send)
            return
        if body is not None:
            await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None when the client disconnects before sending it all."""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLarge
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _stream(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        size, over, started = 0, False, False

        async def counted() -> Message:
            nonlocal size, over
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    over = True
                    raise _TooLarge
            return message

        async def unless_over(message: Message) -> None:
            # The app answers the body it could not read (FastAPI: 400); the client is told why instead.
            nonlocal started
            if not over:
                started = started or message["type"] == "http.response.start"
                await send(message)

        with contextlib.suppress(_TooLarge):  # raised in counted(), when the app did not catch it itself
            await self.app(scope, counted, unless_over)
        if over and not started:
            await _too_large(limit, scope, receive, send)


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    message = f"The request body is larger than {limit} bytes."
    await error_response(413, "payload_too_large", message)(scope, receive, send)


class _TooLarge(Exception):
    pass


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        message: dict[str, Any] = {"type": "http.request", "body": body, "more_body": False}
        return message

    return replay
