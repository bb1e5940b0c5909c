from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import DEFAULT_MODEL, Settings
from rag.errors import ConfigError


def test_defaults_work_out_of_the_box() -> None:
    s = Settings.from_env({})
    assert (s.seeds_dir, s.index_dir, s.host, s.port) == (Path("seeds"), Path("index"), "127.0.0.1", 8000)
    assert s.embedding_model == DEFAULT_MODEL and s.api_key is None


def test_values_come_from_rag_variables() -> None:
    s = Settings.from_env({"RAG_PORT": "9001", "RAG_INDEX_DIR": "/tmp/x", "RAG_API_KEY": "k", "OTHER": "1"})
    assert (s.port, s.index_dir, s.api_key) == (9001, Path("/tmp/x"), "k")


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "key", "value"),
    [
        pytest.param({"RAG_PORT": "eighty"}, "RAG_PORT", "eighty", id="not-an-int"),
        pytest.param({"RAG_PORT": "70000"}, "RAG_PORT", "70000", id="port-range"),
        pytest.param({"RAG_INDEX_TYPE": "ivf"}, "RAG_INDEX_TYPE", "ivf", id="index-type"),
        pytest.param({"RAG_CHUNK_SIZE": "10"}, "RAG_CHUNK_SIZE", "10", id="chunk-size"),
        pytest.param({"RAG_TOP_K": "0"}, "RAG_TOP_K", "0", id="top-k"),
        pytest.param({"RAG_WORKERS": "0"}, "RAG_WORKERS", "0", id="workers"),
        pytest.param({"RAG_READER": "maybe"}, "RAG_READER", "maybe", id="reader"),
        pytest.param({"RAG_READER_CANDIDATES": "0"}, "RAG_READER_CANDIDATES", "0", id="reader-candidates"),
        pytest.param({"RAG_SHORT_ANSWERS": "sometimes"}, "RAG_SHORT_ANSWERS", "sometimes", id="short-answers"),
        pytest.param({"RAG_RUNTIME": "tensorflow"}, "RAG_RUNTIME", "tensorflow", id="runtime"),
    ],
)
def test_errors_name_the_key_and_the_value(env: dict[str, str], key: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    assert f"'{key}'" in str(err.value) and f"'{value}'" in str(err.value)


def test_overrides_win_over_environment() -> None:
    assert Settings.from_env({"RAG_PORT": "9001"}, port=9002, host=None).port == 9002


@pytest.mark.parametrize(
    ("raw", "expected"), [("off", False), ("OFF", False), ("0", False), ("on", True), ("true", True)]
)
def test_the_reader_is_switched_by_rag_reader(raw: str, expected: bool) -> None:
    assert Settings.from_env({"RAG_READER": raw}).reader is expected


def test_the_reader_is_off_by_default() -> None:
    assert Settings.from_env({}).reader is False
