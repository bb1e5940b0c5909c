"""One frozen settings object, read from ``RAG_*`` environment variables.

Each field is defined once, with its default, its parser and its check; the groups below are the
parts of the service they configure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rag.errors import ConfigError

DEFAULT_MODEL = "intfloat/multilingual-e5-small"
INDEX_TYPES = ("flat", "hnsw")
STORES = ("local", "qdrant")
RUNTIMES = ("torch", "onnx")
MAX_TOP_K = 20  # sources (and passages) one answer may list
MAX_QUESTION_CHARS = 1000

Parser = Callable[[str, str], Any]


def _int(key: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"Config '{key}' has value '{raw}'. Not a valid integer.") from None


def _float(key: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"Config '{key}' has value '{raw}'. Not a valid number.") from None


def _switch(key: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    raise ConfigError(f"Config '{key}' has value '{raw}'. Expected on or off.")


def _text(_key: str, raw: str) -> str:
    return raw.strip()


def _optional_text(_key: str, raw: str) -> str | None:
    return raw.strip() or None


def _path(_key: str, raw: str) -> Path:
    return Path(raw).expanduser()


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag" / "models"


def setting(default: Any, parse: Parser, check: Callable[[Any], bool] | None = None, expected: str = "") -> Any:
    """A field read from RAG_<NAME>: its default (or a factory, when callable), parser and check."""
    metadata = {"parse": parse, "check": check, "expected": expected}
    if callable(default):
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    # store: where the index lives
    store: str = setting("local", _text, lambda v: v in STORES, f"one of {STORES}")
    index_dir: Path = setting(Path("index"), _path)
    # RAG_STORE=qdrant: a server or cluster at this URL (":memory:" is qdrant-client's local mode, for
    # tests), or, when unset, the embedded engine under RAG_INDEX_DIR/qdrant
    qdrant_url: str | None = setting(None, _optional_text)
    qdrant_api_key: str | None = setting(None, _optional_text)
    qdrant_prefix: str = setting("rag", _text, lambda v: v.replace("_", "").isalnum(), "letters, digits and _")
    # measured by `make bench-scale`: 1M chunks, recall@10 0.90 at 64, 0.97 at 128 (p50 7.5 ms)
    qdrant_hnsw_ef: int = setting(128, _int, lambda v: v >= 0, "0 (the engine's default) or more")
    # index: what goes into it
    seeds_dir: Path = setting(Path("seeds"), _path)
    embedding_model: str = setting(DEFAULT_MODEL, _text, lambda v: bool(v.strip()), "non-empty")
    model_cache: Path = setting(_default_cache, _path)
    # what runs the embedding model: its ONNX export on ONNX Runtime (the default: the same vectors without
    # importing torch), or sentence-transformers on torch, which any other model needs (README, "Runtime")
    runtime: str = setting("onnx", _text, lambda v: v in RUNTIMES, f"one of {RUNTIMES}")
    chunk_size: int = setting(300, _int, lambda v: v >= 50, "at least 50")
    chunk_overlap: int = setting(0, _int)  # checked against chunk_size in __post_init__
    index_type: str = setting("flat", _text, lambda v: v in INDEX_TYPES, f"one of {INDEX_TYPES}")
    batch_size: int = setting(32, _int, lambda v: v >= 1, "at least 1")
    # search: how a question is answered
    top_k: int = setting(5, _int, lambda v: 1 <= v <= MAX_TOP_K, f"between 1 and {MAX_TOP_K}")
    candidates: int = setting(30, _int, lambda v: v >= 20, "at least 20")
    # Measured on the benchmark (docs/tuning.md): k 10 beat 20, 30 and 60 on MRR@10, and BM25's vote of
    # 3 (next to 1 for each dense ranking) gave the best MRR@10: keyword search is precise on this
    # Chinese corpus once English words are translated, while e5-small ranks the right passage high but
    # often not first.
    rrf_k: int = setting(10, _int, lambda v: v >= 1, "at least 1")
    keyword_weight: float = setting(3.0, _float, lambda v: v > 0, "greater than 0")
    # Off by default: the shipped reader measures worse than the sentence scorer and coverage model on
    # both question sets (README, "The reader"). RAG_READER=on to use it.
    reader: bool = setting(False, _switch)
    # With the reader off: the sentence scorer and the coverage model choose the evidence and decide "not
    # covered", and the reader only marks the short answer in the sentences shown (README, "The reader").
    short_answers: bool = setting(False, _switch)
    reader_candidates: int = setting(16, _int, lambda v: 1 <= v <= 64, "between 1 and 64")
    # With the reader off: the verifier (the reader retrained to judge the scorer's first sentence) gives the
    # coverage model an eighth signal, with its own calibration (README, "The verifier"). On by default: it met
    # the rule written before it was served, on the dev articles and through the service. RAG_VERIFIER=off: the
    # retrieval signals alone (rag/calibration.json), for the ablation or another embedding model.
    verifier: bool = setting(True, _switch)
    # The coverage model's probability as each answer's confidence: the verifier is then read for every question.
    # RAG_CONFIDENCE=off: confidence null, the verifier read only where it could change the grade (about half the
    # questions; README, "Speed"), for throughput.
    confidence: bool = setting(True, _switch)
    # serve: the HTTP server
    host: str = setting("127.0.0.1", _text)
    port: int = setting(8000, _int, lambda v: 0 < v < 65536, "a port 1-65535")
    workers: int = setting(1, _int, lambda v: v >= 1, "at least 1")
    api_key: str | None = setting(None, _optional_text)
    # index: a file larger than this is skipped, whatever its format
    max_file_mb: float = setting(50.0, _float, lambda v: v > 0, "greater than 0")
    # POST /documents: files, and megabytes in all, that one upload may carry
    max_upload_files: int = setting(20, _int, lambda v: v >= 1, "at least 1")
    max_upload_mb: float = setting(100.0, _float, lambda v: v > 0, "greater than 0")
    # how often a server looks for a rebuilt index (by `rag index`, another worker or another replica)
    # and swaps it in, and retries a load that found no index or no engine; 0: never
    reload_seconds: float = setting(10.0, _float, lambda v: v >= 0, "0 (never) or more")

    def __post_init__(self) -> None:
        for f in fields(self):
            check = f.metadata.get("check")
            if check is not None:
                _check(check(getattr(self, f.name)), _key(f.name), getattr(self, f.name), f.metadata["expected"])
        _check(
            0 <= self.chunk_overlap < self.chunk_size,
            "RAG_CHUNK_OVERLAP",
            self.chunk_overlap,
            "between 0 and RAG_CHUNK_SIZE - 1",
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = _key(f.name)
            if key in env and env[key] != "":
                values[f.name] = f.metadata["parse"](key, env[key])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _key(name: str) -> str:
    return f"RAG_{name.upper()}"


def _check(ok: bool, key: str, value: object, expected: str) -> None:
    if not ok:
        raise ConfigError(f"Config '{key}' has value '{value}'. Expected {expected}.")
