"""Fixtures for every test: none sees the user's RAG_* settings; settings in a temp directory; the hash embedder;
and apps over the fake pipeline for the tests of the HTTP layer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import KEY
from embedders import HashEmbedder
from fakes import FakePipeline
from fastapi.testclient import TestClient

from api.app import create_app
from rag.config import Settings


@pytest.fixture(autouse=True)
def no_rag_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("RAG_")]:
        monkeypatch.delenv(key)


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def settings(tmp_path: Path, embedder: HashEmbedder) -> Settings:
    """Seeds and index inside tmp_path, and the embedder fixture's model name (an index built with it is current)."""
    return Settings(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index", embedding_model=embedder.name)


@pytest.fixture
def pipeline() -> FakePipeline:
    return FakePipeline()


@pytest.fixture
def client(pipeline: FakePipeline) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(), pipeline)) as client:
        yield client


@pytest.fixture
def keyed() -> Iterator[TestClient]:
    """An app that requires the API key ``KEY``."""
    with TestClient(create_app(Settings(api_key=KEY), FakePipeline())) as client:
        yield client
