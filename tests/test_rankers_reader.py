"""Choosing the candidates the reader reads, and the evidence from what it says."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from embedders import BigramReader

from rag.config import Settings
from rag.errors import ModelError
from rag.extraction import ScoredSentence
from rag.ingest.chunking import chunk_document
from rag.query import Query
from rag.rankers.base import Ranked, select
from rag.rankers.reader import PER_SOURCE, ReaderRanker, candidates, reader_for
from rag.types import Chunk, Document, Sentence


def _scored(doc: str, text: str, score: float, row: int = 0) -> ScoredSentence:
    sentence = Sentence(0, len(text), text)
    chunk = Chunk(f"{doc}:0", doc, 0, 0, len(text), text, (sentence,))
    return ScoredSentence(row, chunk, sentence, score, 0.0, score)


def _read(doc: str, text: str, probability: float) -> Ranked:
    return Ranked(_scored(doc, text, probability), probability, None)


def test_each_source_keeps_a_place_among_the_candidates() -> None:
    scored = [_scored("a", f"sentence a{i}", 1 - i / 100) for i in range(10)] + [_scored("b", "sentence b", 0.1)]
    chosen = candidates(scored, 4)
    assert len(chosen) == 4
    assert [s.chunk.doc_id for s in chosen].count("b") == 1
    assert [s.chunk.doc_id for s in chosen].count("a") == 3


def test_candidates_keep_the_scorers_order() -> None:
    scored = [_scored(d, f"text {d}{i}", 1 - i / 10 - (d == "b") / 20) for i in range(3) for d in "ab"]
    chosen = candidates(scored, 5)
    assert [s.score for s in chosen] == sorted((s.score for s in chosen), reverse=True)
    assert sum(s.chunk.doc_id == "a" for s in chosen[: 2 * PER_SOURCE]) == PER_SOURCE


def test_every_source_with_an_answering_sentence_is_shown() -> None:
    judged = [_read("a", "甲说是的。", 0.9), _read("a", "甲又说是的。", 0.8), _read("b", "乙说不是。", 0.6)]
    chosen = select(judged, 2, floor=0.5)
    assert {r.doc_id for r in chosen} == {"a", "b"}


def test_sentences_below_the_floor_are_not_shown() -> None:
    judged = [_read("a", "甲说是的。", 0.9), _read("b", "乙说了别的事。", 0.2)]
    assert [r.doc_id for r in select(judged, 5, floor=0.5)] == ["a"]


def test_when_nothing_reaches_the_floor_the_best_sentence_is_kept() -> None:
    judged = [_read("a", "甲说是的。", 0.3), _read("b", "乙说了别的事。", 0.2)]
    assert [r.probability for r in select(judged, 5, floor=0.5)] == [0.3]


def test_near_duplicates_are_shown_once() -> None:
    judged = [_read("a", "DeepSeek 的训练成本是600万美元。", 0.9), _read("b", "DeepSeek的训练成本是600万美元", 0.8)]
    assert len(select(judged, 5, floor=0.5)) == 1


class _Documents:
    """Just enough of a DocumentStore for the ranker: one document of one chunk, sentence rows in order."""

    def __init__(self, document: Document, chunk: Chunk) -> None:
        self.documents = {document.doc_id: document}
        self._chunk = chunk

    def sentence_at(self, row: int) -> tuple[int, int]:
        return 0, row

    def chunk(self, position: int) -> Chunk:
        return self._chunk


def test_a_heading_question_is_read_with_the_sentence_after_it_in_the_same_batch() -> None:
    text = "成本真的只有600万美元吗？\n600万美元只是最后一次训练的算力。\n别的话题。"
    doc = Document("d", "d.txt", "标题", None, None, None, "zh", text)
    (chunk,) = chunk_document(doc, 1000, 0)
    scored = [ScoredSentence(row, chunk, s, 1 - row / 10, 0.0, 1 - row / 10) for row, s in enumerate(chunk.sentences)]
    question, answer, other = scored
    reader = BigramReader()
    ranker = ReaderRanker(reader, _Documents(doc, chunk), 1)  # type: ignore[arg-type]

    ranked = ranker.rank(
        Query("成本多少", np.zeros(4, dtype=np.float32), [], None, frozenset(), 0.0), [question, other, answer]
    )

    assert reader.batches == [2]
    assert {r.scored.sentence.text for r in ranked} == {question.sentence.text, answer.sentence.text}


def test_the_reader_without_torch_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in the Docker image, which serves without torch: RAG_READER=on says so instead of a traceback."""
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ModuleNotFoundError
    monkeypatch.delitem(sys.modules, "rag.rankers.readernet", raising=False)
    with pytest.raises(ModelError, match=r"RAG_RUNTIME.*torch is not installed.*Set RAG_RUNTIME=onnx"):
        reader_for(Settings(reader=True, runtime="torch"))
