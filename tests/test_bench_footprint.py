"""bench.footprint: what the server it times is started with."""

from __future__ import annotations

import pytest

from bench.footprint import server_environment


def test_the_timed_server_writes_its_bytecode_cache_as_a_normal_install_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("RAG_API_KEY", "secret")
    monkeypatch.setenv("RAG_TOP_K", "7")
    environment = server_environment({"RAG_READER": "on"})
    assert "PYTHONDONTWRITEBYTECODE" not in environment
    assert environment["RAG_READER"] == "on" and environment["RAG_TOP_K"] == "7"
    assert environment["HF_HUB_OFFLINE"] == "1" and environment["RAG_API_KEY"] == ""
