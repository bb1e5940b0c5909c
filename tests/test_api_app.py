"""api/app.py: the pipeline loads in the background at startup, a loader bug is reported, /docs works offline."""

from __future__ import annotations

import logging
import threading

import pytest
from api_helpers import EN_QUESTION, ask, error_of, failing, wait_until_settled
from fakes import FakePipeline
from fastapi.testclient import TestClient

from api.app import create_app
from rag.config import Settings


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


def test_a_loader_bug_is_logged_and_reported_not_hidden(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="api"),
        TestClient(create_app(Settings(), loader=failing(RuntimeError("boom")))) as client,
    ):
        ready = wait_until_settled(client)

    assert ready.status_code == 503
    assert "RuntimeError: boom" in error_of(ready)["message"]
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)


def test_docs_work_offline_from_packaged_assets(client: TestClient) -> None:
    page = client.get("/docs")

    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200
