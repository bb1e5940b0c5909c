"""api/metrics.py: Prometheus counts by route template, in a registry per app."""

from __future__ import annotations

from api_helpers import EN_QUESTION, KEY, ask
from fakes import FakePipeline
from fastapi.testclient import TestClient

from api.app import create_app
from rag.config import Settings


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
