"""The HTTP contract, route by route and error by error, against the fake pipeline."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakes import DOCUMENTS, FakePipeline
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from api.errors import status_for
from api.schemas import WHITESPACE_CLASS
from rag.config import Settings
from rag.errors import (
    BadDocumentError,
    BadQueryError,
    ConfigError,
    DocumentNotFoundError,
    IndexMissingError,
    IndexStaleError,
    ModelError,
    RagError,
)
from rag.serialize import answer_to_dict
from rag.types import Answer

KEY = "correct horse battery staple"
EN_QUESTION = "How many parameters does DeepSeek-V3 have?"
ZH_QUESTION = "DeepSeek-V3 的总参数量是多少？"
UNCOVERED = "What is the capital of France?"
ANSWER_KEYS = {"question", "answerable", "confidence", "answer", "evidence", "passages", "timings_ms"}
PASSAGE_KEYS = {"chunk_id", "doc_id", "source_file", "title", "text", "score", "start", "end"}
CITATION_KEYS = {"doc_id", "source_file", "title", "url", "published", "chunk_id", "start", "end"}
SUMMARY_KEYS = {"doc_id", "source_file", "title", "author", "published", "url", "language", "chars"}


@pytest.fixture
def pipeline() -> FakePipeline:
    return FakePipeline()


@pytest.fixture
def client(pipeline: FakePipeline) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(), pipeline)) as client:
        yield client


@pytest.fixture
def keyed() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(api_key=KEY), FakePipeline())) as client:
        yield client


def ask(client: TestClient, question: str, **extra: Any) -> Response:
    return client.post("/ask", json={"question": question, **extra})


def error_of(response: Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"], body
    error: dict[str, str] = body["error"]
    return error


def wait_until_settled(client: TestClient, timeout: float = 10.0) -> Response:
    """/readyz once loading has finished, one way or the other."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/readyz")
        if response.status_code == 200 or error_of(response)["code"] != "loading" or time.monotonic() > deadline:
            return response
        time.sleep(0.01)


# ---- POST /ask -----------------------------------------------------------------------------------


def test_ask_answers_with_quoted_sentences_and_their_citations(client: TestClient) -> None:
    response = ask(client, EN_QUESTION)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == ANSWER_KEYS
    assert body["answerable"] is True
    assert body["evidence"][0]["text"].startswith("DeepSeek-V3 has 671 billion parameters")
    assert body["evidence"][0]["citation"]["title"] == "DeepSeek's models, explained"
    for item in body["evidence"]:
        assert (
            set(item) == {"text", "score", "citation", "answer_start", "answer_end"}
            and set(item["citation"]) == CITATION_KEYS
        )
    assert body["answer"] == " ".join(e["text"] for e in body["evidence"])
    assert all(set(p) == PASSAGE_KEYS for p in body["passages"])


@pytest.mark.parametrize("question", [pytest.param(EN_QUESTION, id="english"), pytest.param(ZH_QUESTION, id="chinese")])
def test_every_offset_points_at_the_quoted_text_in_the_document(client: TestClient, question: str) -> None:
    body = ask(client, question).json()
    spans = [
        (e["citation"]["doc_id"], e["citation"]["start"], e["citation"]["end"], e["text"]) for e in body["evidence"]
    ]
    spans += [(p["doc_id"], p["start"], p["end"], p["text"]) for p in body["passages"]]

    assert body["evidence"] and body["passages"]
    for doc_id, start, end, text in spans:
        document = client.get(f"/documents/{doc_id}").json()
        assert document["text"][start:end] == text


def test_a_chinese_question_is_answered_from_the_chinese_document(client: TestClient) -> None:
    body = ask(client, ZH_QUESTION).json()

    assert body["answerable"] is True
    assert body["evidence"][0]["text"] == "DeepSeek-V3 的总参数量为 6710 亿，每个词元激活 370 亿参数。"
    assert body["evidence"][0]["citation"]["doc_id"] == "zh-v3"


def test_the_body_is_exactly_what_the_cli_prints(client: TestClient, pipeline: FakePipeline) -> None:
    expected = answer_to_dict(pipeline.ask(EN_QUESTION, 3), {d.doc_id: d for d in DOCUMENTS})

    assert ask(client, EN_QUESTION, top_k=3).json() == json.loads(json.dumps(expected))


def test_an_uncovered_question_says_so_and_still_lists_the_closest_passages(client: TestClient) -> None:
    body = ask(client, UNCOVERED).json()

    assert body["answerable"] is False
    assert body["evidence"] == [] and body["answer"] == ""
    assert len(body["passages"]) == 5


def test_top_k_bounds_the_passages(client: TestClient) -> None:
    assert len(ask(client, UNCOVERED, top_k=2).json()["passages"]) == 2


def test_the_question_is_trimmed_before_the_pipeline_sees_it(client: TestClient, pipeline: FakePipeline) -> None:
    body = ask(client, f"\u3000 {EN_QUESTION}\n\t").json()

    assert body["question"] == EN_QUESTION
    assert pipeline.questions == [EN_QUESTION]


def test_scores_are_rounded_to_four_decimals(client: TestClient) -> None:
    body = ask(client, "DeepSeek-V3 参数 seven").json()

    scores = [p["score"] for p in body["passages"]] + [e["score"] for e in body["evidence"]]
    assert scores and all(round(s, 4) == s for s in scores)
    assert 0.3333 in scores  # 1 of 3 query tokens


@pytest.mark.parametrize(
    "question",
    [
        pytest.param("x" * 1000, id="1000-chars"),
        pytest.param("  " + "x" * 1000 + "\n", id="1000-chars-after-trimming"),
        pytest.param("?", id="one-char"),
    ],
)
def test_questions_within_the_limit_are_accepted(client: TestClient, question: str) -> None:
    assert ask(client, question).status_code == 200


@pytest.mark.parametrize(
    ("body", "where"),
    [
        pytest.param({"question": ""}, "body.question", id="empty"),
        pytest.param({"question": " \t\n\u3000\u00a0"}, "body.question", id="whitespace"),
        pytest.param({"question": "x" * 1001}, "body.question", id="too-long"),
        pytest.param({"question": " " + "x" * 1001 + " "}, "body.question", id="too-long-after-trimming"),
        pytest.param({"question": "\ud800"}, "body.question", id="lone-surrogate"),
        pytest.param({"question": 42}, "body.question", id="not-a-string"),
        pytest.param({"question": None}, "body.question", id="null"),
        pytest.param({}, "body.question", id="missing"),
        pytest.param({"question": "x", "top_k": 0}, "body.top_k", id="top-k-0"),
        pytest.param({"question": "x", "top_k": 21}, "body.top_k", id="top-k-21"),
        pytest.param({"question": "x", "top_k": -1}, "body.top_k", id="top-k-negative"),
        pytest.param({"question": "x", "top_k": 2.5}, "body.top_k", id="top-k-fraction"),
        pytest.param({"question": "x", "top_k": "5"}, "body.top_k", id="top-k-string"),
        pytest.param({"question": "x", "top_k": True}, "body.top_k", id="top-k-bool"),
        pytest.param({"question": "x", "topk": 3}, "body.topk", id="unknown-field"),
        pytest.param(["x"], "body", id="not-an-object"),
    ],
)
def test_invalid_asks_get_422_naming_the_field(client: TestClient, body: Any, where: str) -> None:
    response = client.post("/ask", content=json.dumps(body), headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(where)


def test_a_whole_number_float_top_k_is_an_integer(client: TestClient) -> None:
    # JSON Schema says 3.0 is an integer; clients in JavaScript cannot tell them apart.
    assert len(ask(client, UNCOVERED, top_k=3.0).json()["passages"]) == 3


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


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("text/plain", id="text"),
        pytest.param("application/x-www-form-urlencoded", id="form"),
        pytest.param("multipart/form-data; boundary=x", id="multipart"),
        pytest.param(None, id="none"),
    ],
)
def test_a_body_that_is_not_json_gets_415(client: TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/ask", content=json.dumps({"question": EN_QUESTION}).encode(), headers=headers)

    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/vnd.rag+json"])
def test_json_media_types_with_parameters_or_suffixes_are_json(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/ask", content=json.dumps({"question": EN_QUESTION}), headers={"Content-Type": content_type}
    )

    assert response.status_code == 200


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


# ---- GET /search ---------------------------------------------------------------------------------


def test_search_returns_passages_with_offsets(client: TestClient) -> None:
    response = client.get("/search", params={"q": "  reinforcement learning  ", "top_k": 3})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"query", "passages"}
    assert body["query"] == "reinforcement learning"
    assert len(body["passages"]) == 3
    first = body["passages"][0]
    assert set(first) == PASSAGE_KEYS and first["doc_id"] == "en-models"
    assert client.get(f"/documents/{first['doc_id']}").json()["text"][first["start"] : first["end"]] == first["text"]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="missing-q"),
        pytest.param({"q": ""}, id="empty"),
        pytest.param({"q": " \u3000 "}, id="whitespace"),
        pytest.param({"q": "x" * 1001}, id="too-long"),
        pytest.param({"q": "x", "top_k": "0"}, id="top-k-0"),
        pytest.param({"q": "x", "top_k": "21"}, id="top-k-21"),
        pytest.param({"q": "x", "top_k": "many"}, id="top-k-word"),
    ],
)
def test_invalid_searches_get_422(client: TestClient, params: dict[str, str]) -> None:
    response = client.get("/search", params=params)

    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_request"


# ---- GET /documents ------------------------------------------------------------------------------


def test_documents_lists_every_document_without_its_text(client: TestClient) -> None:
    response = client.get("/documents")

    assert response.status_code == 200
    rows = response.json()
    assert {r["doc_id"] for r in rows} == {d.doc_id for d in DOCUMENTS}
    assert all(set(r) == SUMMARY_KEYS for r in rows)
    company = next(r for r in rows if r["doc_id"] == "zh-company")
    assert company["author"] is None and company["url"] is None and company["published"] is None


def test_a_document_comes_with_its_text(client: TestClient) -> None:
    response = client.get("/documents/zh-v3")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == SUMMARY_KEYS | {"text"}
    assert body["language"] == "zh" and body["chars"] == len(body["text"])
    assert body["text"] == DOCUMENTS[0].text


@pytest.mark.parametrize("doc_id", ["nope", "zh-v3x", "%E4%B8%AD", "..%2F..%2Fetc"])
def test_an_unknown_document_gets_404(client: TestClient, doc_id: str) -> None:
    response = client.get(f"/documents/{doc_id}")

    assert response.status_code == 404
    assert error_of(response)["code"] in {"document_not_found", "not_found"}


def test_an_unknown_route_gets_a_json_404(client: TestClient) -> None:
    response = client.get("/no/such/route")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_a_wrong_method_gets_a_json_405(client: TestClient) -> None:
    response = client.get("/ask")

    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]


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


# ---- readiness -----------------------------------------------------------------------------------


def test_healthz_answers(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_names_the_model_and_the_index(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "model": "fake/keyword-overlap", "documents": 3, "chunks": 8}


def test_readyz_is_503_while_loading_and_200_once_loaded() -> None:
    release = threading.Event()

    def slow_loader(settings: Settings) -> FakePipeline:
        assert release.wait(10)
        return FakePipeline(settings=settings)

    with TestClient(create_app(Settings(), loader=slow_loader)) as client:
        loading = client.get("/readyz")
        asked_early = ask(client, EN_QUESTION)
        assert client.get("/healthz").status_code == 200
        release.set()
        ready = wait_until_settled(client)
        asked_late = ask(client, EN_QUESTION)

    assert loading.status_code == 503 and error_of(loading)["code"] == "loading"
    assert asked_early.status_code == 503 and error_of(asked_early)["code"] == "loading"
    assert ready.status_code == 200
    assert asked_late.status_code == 200


def failing(error: Exception) -> Callable[[Settings], FakePipeline]:
    def loader(_settings: Settings) -> FakePipeline:
        raise error

    return loader


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(IndexMissingError("no index in index/: run `rag index`"), id="index-missing"),
        pytest.param(IndexStaleError("index is stale (seeds changed)"), id="index-stale"),
        pytest.param(ModelError("model weights not found"), id="model"),
        pytest.param(ConfigError("Config 'RAG_TOP_K' has value '0'."), id="config"),
    ],
)
def test_when_loading_fails_the_app_starts_and_says_why(error: RagError) -> None:
    with TestClient(create_app(Settings(), loader=failing(error))) as client:
        ready = wait_until_settled(client)
        responses = [
            ask(client, EN_QUESTION),
            client.get("/search", params={"q": "x"}),
            client.get("/documents"),
            client.get("/documents/zh-v3"),
        ]
        health = client.get("/healthz")
        metrics = client.get("/metrics").text

    assert health.status_code == 200
    assert ready.status_code == 503
    assert error_of(ready)["code"] == error.code and str(error) in error_of(ready)["message"]
    for response in responses:
        assert response.status_code == 503, response.request.url
        assert error_of(response)["code"] == error.code
    assert "rag_ready 0.0" in metrics


def test_a_loader_bug_is_logged_and_reported_not_hidden(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="api"),
        TestClient(create_app(Settings(), loader=failing(RuntimeError("boom")))) as client,
    ):
        ready = wait_until_settled(client)

    assert ready.status_code == 503
    assert "RuntimeError: boom" in error_of(ready)["message"]
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)


# ---- errors from the pipeline ----------------------------------------------------------------


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

    def ask(self, question: str, top_k: int = 5) -> Answer:
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


# ---- metrics -------------------------------------------------------------------------------------


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    ask(client, EN_QUESTION)
    ask(client, "")
    client.get("/documents/zh-v3")
    client.get("/documents/nope")
    client.get("/no/such/route")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'rag_http_requests_total{method="POST",route="/ask",status="200"} 1.0' in text
    assert 'rag_http_requests_total{method="POST",route="/ask",status="422"} 1.0' in text
    assert 'rag_http_requests_total{method="GET",route="/documents/{doc_id}",status="200"} 1.0' in text
    assert 'rag_http_requests_total{method="GET",route="/documents/{doc_id}",status="404"} 1.0' in text
    assert 'rag_http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert "nope" not in text and "/no/such/route" not in text
    assert 'rag_http_request_duration_seconds_bucket{le="0.1",method="POST",route="/ask"}' in text
    assert 'rag_http_request_duration_seconds_count{method="POST",route="/ask"} 2.0' in text
    assert "rag_documents_indexed 3.0" in text
    assert "rag_chunks_indexed 8.0" in text
    assert 'rag_model_info{name="fake/keyword-overlap"} 1.0' in text
    assert "rag_ready 1.0" in text


def test_requests_turned_away_by_the_guards_are_counted(keyed: TestClient) -> None:
    keyed.post("/ask", json={"question": EN_QUESTION})
    keyed.post("/ask", content=b"x" * 70_000, headers={"Authorization": f"Bearer {KEY}"})

    text = keyed.get("/metrics", headers={"Authorization": f"Bearer {KEY}"}).text

    assert 'rag_http_requests_total{method="POST",route="/ask",status="401"} 1.0' in text
    assert 'rag_http_requests_total{method="POST",route="/ask",status="413"} 1.0' in text


def test_two_apps_in_one_process_keep_their_own_counts() -> None:
    with (
        TestClient(create_app(Settings(), FakePipeline())) as first,
        TestClient(create_app(Settings(), FakePipeline())) as second,
    ):
        ask(first, EN_QUESTION)
        counted = second.get("/metrics").text

    assert 'route="/ask"' not in counted


# ---- the page and the docs -----------------------------------------------------------------------


def test_the_page_is_served_with_a_strict_content_security_policy(client: TestClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert '<script src="/static/app.js"' in response.text
    for asset, media_type in [("/static/app.js", "javascript"), ("/static/style.css", "text/css")]:
        served = client.get(asset)
        assert served.status_code == 200 and media_type in served.headers["content-type"]


def test_the_page_script_never_parses_html() -> None:
    from api.routes import STATIC_DIR

    script = (STATIC_DIR / "app.js").read_text("utf-8")

    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


def test_docs_work_offline_from_packaged_assets(client: TestClient) -> None:
    page = client.get("/docs")

    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200


def test_the_schema_spells_out_the_question_rule(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    question = schema["components"]["schemas"]["AskRequest"]["properties"]["question"]

    assert question["pattern"].startswith("^[") and "1000 characters" in question["description"]
    assert schema["paths"]["/ask"]["post"]["responses"].keys() >= {"200", "400", "401", "413", "415", "422", "503"}


def test_the_whitespace_the_schema_names_is_what_python_trims() -> None:
    # The schema's class, expanded, must be exactly str.isspace(): the server trims with str.strip().
    import re

    pattern = re.compile(f"[{WHITESPACE_CLASS}]")
    named = {chr(c) for c in range(sys.maxunicode + 1) if pattern.fullmatch(chr(c))}

    assert named == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
