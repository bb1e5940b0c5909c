"""api/schemas.py: the rules a question and top_k must meet, and the OpenAPI schema that states them."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from api_helpers import EN_QUESTION, UNCOVERED, ask, error_of
from fakes import FakePipeline
from fastapi.testclient import TestClient

from api.schemas import WHITESPACE_CLASS


def test_the_question_is_trimmed_before_the_pipeline_sees_it(client: TestClient, pipeline: FakePipeline) -> None:
    body = ask(client, f"\u3000 {EN_QUESTION}\n\t").json()

    assert body["question"] == EN_QUESTION
    assert pipeline.questions == [EN_QUESTION]


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
