"""What the tests of the HTTP layer share: the questions, the API key, and short ways to ask and to read errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fakes import FakePipeline
from fastapi.testclient import TestClient
from httpx import Response

from rag.config import Settings

KEY = "correct horse battery staple"
EN_QUESTION = "How many parameters does DeepSeek-V3 have?"
UNCOVERED = "What is the capital of France?"


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


def failing(error: Exception) -> Callable[[Settings], FakePipeline]:
    def loader(_settings: Settings) -> FakePipeline:
        raise error

    return loader
