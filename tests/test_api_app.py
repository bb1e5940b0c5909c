"""api/app.py: the pipeline loads in the background at startup, a loader bug is reported, /docs works offline,
and serving imports nothing that only a build, an upload or torch needs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from api_helpers import EN_QUESTION, ask, error_of, failing, wait_until_settled
from embedders import HashEmbedder, build_local, write_corpus
from fakes import FakePipeline
from fastapi.testclient import TestClient

from api.app import create_app
from rag.config import DEFAULT_MODEL, Settings
from rag.errors import ConfigError, IndexMissingError

ROOT = Path(__file__).resolve().parent.parent
# Not in the Docker image (torch and its stack), or needed only to build an index or read an upload.
NOT_FOR_SERVING = (
    "torch",
    "transformers",
    "sentence_transformers",
    "sklearn",
    "scipy",
    "bm25s",
    "langchain_text_splitters",
    "pypdf",
    "docx",
    "bs4",
)


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


def _eventually(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_an_index_rebuilt_elsewhere_is_swapped_in() -> None:
    pipeline = FakePipeline()
    with TestClient(create_app(Settings(reload_seconds=0.05), loader=lambda _: pipeline)) as client:
        assert wait_until_settled(client).status_code == 200
        pipeline.rebuilt()  # `rag index`, another worker or another replica wrote a new version
        assert _eventually(lambda: pipeline.reopened == 1)
        assert client.get("/readyz").status_code == 200
    assert pipeline.reopened == 1  # once per rebuild, not at every look


def test_a_load_that_found_no_index_is_retried_until_one_is_built() -> None:
    attempts: list[Settings] = []

    def loader(settings: Settings) -> FakePipeline:
        attempts.append(settings)
        if len(attempts) < 3:
            raise IndexMissingError("no index in index: run `rag index`")
        return FakePipeline(settings=settings)

    with TestClient(create_app(Settings(reload_seconds=0.05), loader=loader)) as client:
        first = client.get("/readyz")
        assert _eventually(lambda: client.get("/readyz").status_code == 200)
    assert first.status_code == 503 and error_of(first)["code"] == "index_missing"
    assert len(attempts) == 3


def test_a_load_that_failed_for_good_is_not_retried() -> None:
    attempts: list[Settings] = []

    def loader(settings: Settings) -> FakePipeline:
        attempts.append(settings)
        raise ConfigError("bad model")

    with TestClient(create_app(Settings(reload_seconds=0.05), loader=loader)) as client:
        wait_until_settled(client)
        time.sleep(0.3)
        assert error_of(client.get("/readyz"))["code"] == "bad_config"
    assert len(attempts) == 1


def test_docs_work_offline_from_packaged_assets(client: TestClient) -> None:
    page = client.get("/docs")

    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200


@pytest.mark.model
def test_serving_on_onnx_runtime_imports_nothing_that_only_torch_a_build_or_an_upload_needs(
    settings: Settings, tmp_path: Path
) -> None:
    # Hashed vectors of the real model's size under its name: the real model then serves this index.
    write_corpus(settings.seeds_dir)
    settings = replace(settings, embedding_model=DEFAULT_MODEL)
    build_local(settings, HashEmbedder(DEFAULT_MODEL, 384))
    code = (
        "import sys, time\n"
        "from fastapi.testclient import TestClient\n"
        "from api.app import create_app\n"
        "with TestClient(create_app()) as client:\n"
        "    deadline = time.monotonic() + 120\n"
        "    while client.get('/readyz').status_code != 200:\n"
        "        assert time.monotonic() < deadline, client.get('/readyz').json()\n"
        "        time.sleep(0.05)\n"
        "    answered = client.post('/ask', json={'question': 'What do giant pandas eat?'})\n"
        "    assert answered.status_code == 200, answered.text\n"
        f"print(sorted(m for m in {NOT_FOR_SERVING!r} if m in sys.modules))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "RAG_RUNTIME": "onnx",
        "RAG_SEEDS_DIR": str(settings.seeds_dir),
        "RAG_INDEX_DIR": str(settings.index_dir),
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
