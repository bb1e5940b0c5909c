"""api/security.py: the request body limit and the optional API key, on every route."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from api_helpers import EN_QUESTION, KEY, ask, error_of
from fakes import FakePipeline
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from rag.config import Settings

# ---- the body limit ------------------------------------------------------------------------------


def test_a_body_over_64_kib_gets_413(client: TestClient) -> None:
    response = ask(client, "x" * (64 * 1024))

    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_a_body_of_exactly_64_kib_is_read(client: TestClient) -> None:
    body = json.dumps({"question": EN_QUESTION}).encode()
    body += b" " * (64 * 1024 - len(body))

    response = client.post("/ask", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 200


def test_a_streamed_body_without_content_length_is_counted(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    response = client.post("/ask", content=chunks(), headers={"Content-Type": "application/json"})

    assert response.status_code == 413


def asgi_request(app: FastAPI, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, bytes]:
    """One raw ASGI request, for what an HTTP client would not send: a Content-Length that lies."""
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/ask",
        "raw_path": b"/ask",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_a_body_longer_than_its_content_length_claims_gets_413() -> None:
    app = create_app(Settings(), FakePipeline())
    headers = [(b"content-type", b"application/json"), (b"content-length", b"20")]

    status, body = asgi_request(app, headers, [b'{"question": "', b"x" * 70_000, b'"}'])

    assert status == 413
    assert json.loads(body)["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("declared", [b"ten", b"-1", b"1e3", "\u00b2".encode("latin-1"), b""])
def test_a_content_length_that_is_not_a_number_gets_400(declared: bytes) -> None:
    app = create_app(Settings(), FakePipeline())

    status, body = asgi_request(app, [(b"content-type", b"application/json"), (b"content-length", declared)], [b"{}"])

    assert status == 400
    assert "Content-Length" in json.loads(body)["error"]["message"]


# ---- the API key ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing"),
        pytest.param("Bearer wrong", id="wrong-key"),
        pytest.param(f"Bearer {KEY}x", id="longer-key"),
        pytest.param(f"Basic {KEY}", id="wrong-scheme"),
        pytest.param("Bearer ", id="empty"),
        pytest.param(KEY, id="no-scheme"),
        pytest.param("Bearer clé-été".encode(), id="non-ascii"),
    ],
)
@pytest.mark.parametrize("method,path", [("POST", "/ask"), ("GET", "/documents"), ("GET", "/metrics")])
def test_without_the_right_key_requests_get_401(
    keyed: TestClient, authorization: str | bytes | None, method: str, path: str
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = keyed.request(method, path, json={"question": EN_QUESTION}, headers=headers)

    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_with_the_right_key_requests_go_through(keyed: TestClient, scheme: str) -> None:
    headers = {"Authorization": f"{scheme} {KEY}"}

    assert keyed.post("/ask", json={"question": EN_QUESTION}, headers=headers).status_code == 200
    assert keyed.get("/documents/zh-v3", headers=headers).status_code == 200
    assert keyed.get("/search", params={"q": "R1"}, headers=headers).status_code == 200
    assert keyed.get("/metrics", headers=headers).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/", "/static/app.js", "/docs", "/openapi.json"])
def test_probes_the_page_and_the_docs_need_no_key(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_unknown_routes_need_the_key_too_so_nothing_leaks(keyed: TestClient) -> None:
    assert keyed.get("/no/such/route").status_code == 401
    assert keyed.get("/no/such/route", headers={"Authorization": f"Bearer {KEY}"}).status_code == 404


def test_the_schema_declares_the_key_when_one_is_set(keyed: TestClient, client: TestClient) -> None:
    schema = keyed.get("/openapi.json").json()

    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The server's RAG_API_KEY.",
    }
    assert schema["paths"]["/ask"]["post"]["security"] == [{"apiKey": []}]
    assert "security" not in schema["paths"]["/healthz"]["get"]
    assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})
