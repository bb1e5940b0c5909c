"""What the routes depend on: the question-answering protocol and the loaded instance of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Protocol

from fastapi import Depends, Request

from api.errors import HTTPError
from rag.config import Settings
from rag.errors import RagError
from rag.library import Library
from rag.types import Answer, Document, Hit

if TYPE_CHECKING:
    from rag.embedding import Embedder


class QA(Protocol):
    """The part of rag.pipeline.Pipeline the HTTP layer uses; tests hand in a fake."""

    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings) -> QA: ...

    def ask(self, question: str, top_k: int | None = None) -> Answer: ...

    def search(self, query: str, top_k: int | None = None) -> list[Hit]: ...

    def documents(self) -> list[Document]: ...

    def check(self) -> None: ...

    def document(self, doc_id: str) -> Document: ...

    def reopen(self) -> QA: ...

    def behind(self) -> bool: ...

    @property
    def embedder(self) -> Embedder: ...

    @property
    def model_name(self) -> str: ...

    @property
    def document_count(self) -> int: ...

    @property
    def chunk_count(self) -> int: ...


def load_pipeline(settings: Settings) -> QA:
    # Imported here: it pulls in torch and FAISS, which the tests with a fake never need.
    from rag.pipeline import Pipeline

    pipeline: QA = Pipeline.from_settings(settings)
    return pipeline


@dataclass(frozen=True)
class Serving:
    """A pipeline and its documents by id, swapped together: a request reads one pair from start to end."""

    pipeline: QA
    documents: Mapping[str, Document] = field(default_factory=dict)

    @classmethod
    def of(cls, pipeline: QA) -> Serving:
        return cls(pipeline, {d.doc_id: d for d in pipeline.documents()})


class PipelineSlot:
    """The pipeline in service, or why there is none. Filled by the loader and by each write, read by requests."""

    def __init__(self) -> None:
        self._serving: Serving | None = None
        self._error: RagError | None = None

    def fill(self, pipeline: QA) -> None:
        self._serving = Serving.of(pipeline)  # one assignment: a request sees the old pair or the new one

    def fail(self, error: RagError) -> None:
        self._error = error

    @property
    def error(self) -> RagError | None:
        """Why the last load failed, while no pipeline is in service."""
        return self._error if self._serving is None else None

    @property
    def pipeline(self) -> QA | None:
        serving = self._serving
        return None if serving is None else serving.pipeline

    def get(self) -> QA:
        return self.serving().pipeline

    def serving(self) -> Serving:
        serving = self._serving
        if serving is None:
            raise self.not_ready()
        return serving

    def documents(self) -> Mapping[str, Document]:
        return self.serving().documents

    def not_ready(self) -> HTTPError:
        if self._error is None:
            return HTTPError(503, "loading", "The model and the index are still loading; retry shortly.")
        # Whatever the error, a failed load is the server's state, not the client's fault: 503.
        return HTTPError(503, self._error.code, f"Not ready: {self._error}")


# The dependencies are async only so that FastAPI runs them on the event loop, not one thread hop each.


def slot(request: Request) -> PipelineSlot:
    value = request.app.state.pipeline_slot
    assert isinstance(value, PipelineSlot)
    return value


async def serving(request: Request) -> Serving:
    # FastAPI caches a dependency per request: the pipeline and the documents below come from one pair.
    return slot(request).serving()


async def pipeline(current: Annotated[Serving, Depends(serving)]) -> QA:
    return current.pipeline


async def documents(current: Annotated[Serving, Depends(serving)]) -> Mapping[str, Document]:
    return current.documents


async def library(request: Request) -> Library[QA]:
    value: Library[QA] = request.app.state.library
    return value


PipelineDep = Annotated[QA, Depends(pipeline)]
DocumentsDep = Annotated[Mapping[str, Document], Depends(documents)]
LibraryDep = Annotated[Library[QA], Depends(library)]
