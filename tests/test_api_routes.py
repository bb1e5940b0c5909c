"""api/routes.py: what each route answers, against the fake pipeline."""

from __future__ import annotations

import json

import pytest
from api_helpers import EN_QUESTION, UNCOVERED, ask, error_of
from fakes import DOCUMENTS, FakePipeline
from fastapi.testclient import TestClient

from api.schemas import AskResponse
from rag.errors import StoreUnavailableError
from rag.serialize import answer_to_dict

ZH_QUESTION = "DeepSeek-V3 的总参数量是多少？"
# The JSON of an answer is exactly the HTTP contract.
ANSWER_KEYS = set(AskResponse.model_fields)
PASSAGE_KEYS = {"chunk_id", "doc_id", "source_file", "title", "text", "score", "start", "end"}
CITATION_KEYS = {"doc_id", "source_file", "title", "url", "published", "chunk_id", "start", "end", "page"}
SUMMARY_KEYS = {"doc_id", "source_file", "title", "author", "published", "url", "language", "chars"}


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


def test_scores_are_rounded_to_four_decimals(client: TestClient) -> None:
    body = ask(client, "DeepSeek-V3 参数 seven").json()

    scores = [p["score"] for p in body["passages"]] + [e["score"] for e in body["evidence"]]
    assert scores and all(round(s, 4) == s for s in scores)
    assert 0.3333 in scores  # 1 of 3 query tokens


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


# ---- the probes ----------------------------------------------------------------------------------


def test_healthz_answers(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_names_the_model_and_the_index(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "model": "fake/keyword-overlap", "documents": 3, "chunks": 8}


def test_readyz_is_503_when_the_index_engine_cannot_be_reached(client: TestClient, pipeline: FakePipeline) -> None:
    pipeline.store_error = StoreUnavailableError("Qdrant at http://qdrant:6333 failed: connection refused")
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "store_unavailable"
    assert "connection refused" in response.json()["error"]["message"]


# ---- the page ------------------------------------------------------------------------------------


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
