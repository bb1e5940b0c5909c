"""api/errors.py: every error leaves as JSON with a code, and RagErrors map to statuses in one place."""

from __future__ import annotations

import logging

import pytest
from api_helpers import EN_QUESTION, ask, error_of
from fakes import FakePipeline
from fastapi.testclient import TestClient

from api.app import create_app
from api.errors import status_for
from rag.config import Settings
from rag.errors import (
    BadDocumentError,
    BadQueryError,
    DocumentNotFoundError,
    IndexMissingError,
    IndexStaleError,
    ModelError,
    RagError,
)
from rag.types import Answer


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"question": ', id="truncated"),
        pytest.param(b"{'question': 'x'}", id="single-quotes"),
        pytest.param(b"question=x", id="not-json"),
        pytest.param(b'{"question": "x"', id="unclosed"),
        pytest.param(b"\xff\xfe\x00", id="not-utf8"),
        pytest.param(b"[" * 60_000, id="deeply-nested"),
        pytest.param(b'{"question": "x", "top_k": ' + b"9" * 5000 + b"}", id="huge-integer"),
    ],
)
def test_malformed_json_gets_400(client: TestClient, content: bytes) -> None:
    response = client.post("/ask", content=content, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert error_of(response)["code"] in {"malformed_json", "bad_request"}


def test_an_unknown_route_gets_a_json_404(client: TestClient) -> None:
    response = client.get("/no/such/route")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_a_wrong_method_gets_a_json_405(client: TestClient) -> None:
    response = client.get("/ask")

    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]


def test_a_405_names_every_method_on_the_path(client: TestClient) -> None:
    # GET and POST /documents are two routes; Starlette alone would name the first one's method.
    assert client.put("/documents").headers["allow"] == "GET, POST"
    assert client.put("/documents/zh-v3").headers["allow"] == "DELETE, GET"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        pytest.param(BadQueryError("empty"), 422, id="bad-query"),
        pytest.param(DocumentNotFoundError("nope"), 404, id="not-found"),
        pytest.param(IndexMissingError("none"), 503, id="index-missing"),
        pytest.param(IndexStaleError("stale"), 503, id="index-stale"),
        pytest.param(ModelError("gone"), 503, id="model"),
        pytest.param(BadDocumentError("bad"), 400, id="other"),
        pytest.param(RagError("base"), 400, id="base"),
    ],
)
def test_rag_errors_map_to_statuses_in_one_place(error: RagError, status: int) -> None:
    assert status_for(error) == status


class Raising(FakePipeline):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        pytest.param(BadQueryError("the question is empty"), 422, id="bad-query"),
        pytest.param(BadDocumentError("cannot read"), 400, id="other-rag-error"),
        pytest.param(IndexStaleError("stale"), 503, id="stale"),
    ],
)
def test_a_rag_error_from_the_pipeline_becomes_its_status(error: RagError, status: int) -> None:
    with TestClient(create_app(Settings(), Raising(error))) as client:
        response = ask(client, EN_QUESTION)

    assert response.status_code == status
    assert error_of(response) == {"code": error.code, "message": str(error)}


def test_a_bug_is_a_logged_json_500_never_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(Settings(), Raising(ZeroDivisionError("division by zero")))
    with caplog.at_level(logging.ERROR, logger="api"), TestClient(app, raise_server_exceptions=False) as client:
        response = ask(client, EN_QUESTION)

    assert response.status_code == 500
    assert error_of(response)["code"] == "internal_error"
    assert "ZeroDivisionError" not in response.text and "Traceback" not in response.text
    assert any(r.exc_info and isinstance(r.exc_info[1], ZeroDivisionError) for r in caplog.records)
