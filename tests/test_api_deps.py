"""api/deps.py: until the pipeline is loaded, every route that needs it answers 503 with the reason."""

from __future__ import annotations

import pytest
from api_helpers import EN_QUESTION, ask, error_of, failing, wait_until_settled
from fastapi.testclient import TestClient

from api.app import create_app
from rag.config import Settings
from rag.errors import ConfigError, IndexMissingError, IndexStaleError, ModelError, RagError


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
