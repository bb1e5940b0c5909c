"""Request guards as plain ASGI middleware: the optional API key and the request body limit.

They run before routing, so they cover every route, mounted files and unknown paths alike.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

MAX_BODY_BYTES = 64 * 1024

# The page, its files and the API docs hold no data: browsers load them without a header, and the
# page and the docs then send the key that the user types. The probes stay open for orchestrators.
PUBLIC_PATHS = frozenset({"/", "/healthz", "/readyz", "/docs", "/openapi.json"})
PUBLIC_PREFIXES = ("/static/", "/docs/")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


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
    """``Authorization: Bearer <key>`` on every non-public path when a key is configured."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.key = api_key.encode("utf-8") if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
    """Answers 413 when a request body exceeds ``max_bytes``, by its Content-Length or by the bytes that arrive.

    The body is read here in full (it is small by construction) and replayed to the app, so a client
    that lies about Content-Length or streams chunks without one is stopped all the same.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        # isascii(): "²" is a digit to isdigit() but not to int().
        if declared is not None and not (declared.isascii() and declared.isdigit()):
            response = error_response(400, "bad_request", f"Content-Length has value '{declared}'. Not an integer.")
            await response(scope, receive, send)
            return
        if declared is not None and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        try:
            body = await self._read(receive)
        except _TooLarge:
            await self._too_large(scope, receive, send)
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

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"The request body is larger than {self.max_bytes} bytes."
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
