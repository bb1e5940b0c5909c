"""What the routes depend on: the question-answering protocol and the loaded instance of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Protocol

from fastapi import Depends, Request

from api.errors import HTTPError
from rag.config import Settings
from rag.errors import RagError
from rag.types import Answer, Document, Hit


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


class PipelineSlot:
    """The pipeline once loaded, or why it is not. Written once by the loader, read by request threads."""

    def __init__(self) -> None:
        self._pipeline: QA | None = None
        self._documents: dict[str, Document] = {}
        self._error: RagError | None = None

    def fill(self, pipeline: QA) -> None:
        # The documents first: a request thread that sees the pipeline must also see them.
        self._documents = {d.doc_id: d for d in pipeline.documents()}
        self._pipeline = pipeline

    def fail(self, error: RagError) -> None:
        self._error = error

    @property
    def pipeline(self) -> QA | None:
        return self._pipeline

    def get(self) -> QA:
        if self._pipeline is None:
            raise self.not_ready()
        return self._pipeline

    def documents(self) -> Mapping[str, Document]:
        self.get()
        return self._documents

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


async def pipeline(request: Request) -> QA:
    return slot(request).get()


async def documents(request: Request) -> Mapping[str, Document]:
    return slot(request).documents()


PipelineDep = Annotated[QA, Depends(pipeline)]
DocumentsDep = Annotated[Mapping[str, Document], Depends(documents)]
