"""A deterministic stand-in for rag.pipeline.Pipeline: hand-made documents, keyword-overlap scoring, real offsets.

Every Sentence, Chunk and Citation it returns satisfies ``document.text[start:end] == text``. It lives here,
not in tests/, because the load bench serves it (``python bench/load.py --fake``); the tests import it from here.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections.abc import Sequence

import numpy as np
from fastapi import FastAPI

from api.app import create_app
from rag.config import Settings
from rag.errors import BadQueryError, DocumentNotFoundError, RagError
from rag.sources import neighbours
from rag.types import Answer, Chunk, Citation, Document, Evidence, Grade, Hit, Quote, Sentence, Source

ZH_V3 = Document(
    doc_id="zh-v3",
    source_file="seeds/deepseek_v3_zh.txt",
    title="DeepSeek-V3 技术报告解读",
    author="张三",
    published="2025-01-02T10:00:00",
    url="https://example.com/zh/deepseek-v3",
    language="zh",
    text=(
        "DeepSeek-V3 是深度求索发布的混合专家模型。\n"
        "DeepSeek-V3 的总参数量为 6710 亿，每个词元激活 370 亿参数。"
        "它在 14.8 万亿个高质量词元上完成了预训练。"
        "整个训练只用了 278.8 万个 H800 GPU 小时。\n"
        "模型采用多头潜在注意力和无辅助损失的负载均衡策略。"
        "每 256 个专家中仅激活 8 个，稀疏度很高。"
    ),
)

EN_MODELS = Document(
    doc_id="en-models",
    source_file="seeds/deepseek_models_en.md",
    title="DeepSeek's models, explained",
    author="Jane Doe",
    published="2025-01-28",
    url="https://example.com/en/deepseek-models",
    language="en",
    text=(
        "DeepSeek is an AI lab based in Hangzhou. "
        "DeepSeek-V3 has 671 billion parameters in total, of which 37 billion are active for each token. "
        "Its final training run cost about 5.6 million dollars in GPU time.\n"
        "DeepSeek-R1 is a reasoning model trained with large-scale reinforcement learning. "
        "R1-Zero was trained with reinforcement learning alone, without supervised fine-tuning. "
        "Nvidia's share price fell sharply after the release of R1."
    ),
)

ZH_COMPANY = Document(
    doc_id="zh-company",
    source_file="seeds/company_zh.txt",
    title="深度求索公司简介",
    author=None,
    published=None,
    url=None,
    language="zh",
    text=(
        "深度求索成立于 2023 年，总部位于杭州。"
        "公司的创始人梁文锋也是量化基金幻方的创始人。"
        "深度求索的模型以开源权重的方式发布。"
    ),
)

DOCUMENTS = (ZH_V3, EN_MODELS, ZH_COMPANY)

EVIDENCE_THRESHOLD = 0.5
UNCERTAIN_THRESHOLD = 0.25  # from here up to EVIDENCE_THRESHOLD a question is graded uncertain
SENTENCES_PER_CHUNK = 2
STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from", "has", "have", "how", "in"}
    | {"is", "it", "its", "many", "much", "of", "on", "or", "the", "to", "was", "what", "when", "where", "which", "who"}
    | {"why", "with"}
)
# Question words that carry no topic: without them a question's tokens are what it is about.
CJK_STOP_BIGRAMS = frozenset(
    {"是多", "多少", "什么", "是什", "哪些", "怎么", "为什", "么是", "是哪", "哪里", "量是", "的总"}
)
# A sentence ends at 。！？, at .!? before whitespace or the end, or at a line break.
SENTENCE = re.compile(r"\S.*?(?:[。！？]|[.!?](?=\s|$)|(?=\n)|$)")
WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
NUMBER = re.compile(r"(?<![\w-])\d[\d,.]*\d|(?<![\w-])\d")


def tokens(text: str) -> frozenset[str]:
    words = {w for w in WORD.findall(text.lower()) if w not in STOPWORDS}
    runs = CJK_RUN.findall(text)
    bigrams = {run[i : i + 2] for run in runs for i in range(len(run) - 1)} | {run for run in runs if len(run) == 1}
    return frozenset(words | (bigrams - CJK_STOP_BIGRAMS))


def overlap(query: frozenset[str], text: str) -> float:
    return len(query & tokens(text)) / len(query) if query else 0.0


def split_sentences(text: str) -> tuple[Sentence, ...]:
    return tuple(Sentence(m.start(), m.end(), m.group()) for m in SENTENCE.finditer(text))


def chunk(document: Document) -> list[Chunk]:
    sentences = split_sentences(document.text)
    chunks = []
    for index, first in enumerate(range(0, len(sentences), SENTENCES_PER_CHUNK)):
        group = sentences[first : first + SENTENCES_PER_CHUNK]
        start, end = group[0].start, group[-1].end
        chunk_id = f"{document.doc_id}#{index}"
        chunks.append(Chunk(chunk_id, document.doc_id, index, start, end, document.text[start:end], group))
    return chunks


class FakeEmbedder:
    """Implements rag.embedding.Embedder without a model, for the write routes over the fake: tokens hashed."""

    name = "fake/keyword-overlap"
    dimension = 16

    def embed(self, texts: list[str], kind: str, progress: bool = False) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        vectors[:, 0] = 1e-3  # no zero vector, whatever the text
        for row, text in enumerate(texts):
            for token in tokens(text):
                vectors[row, zlib.crc32(token.encode()) % self.dimension] += 1.0
        normalised: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return normalised


class FakePipeline:
    """Implements api.deps.QA without a model: scores are the share of the query's tokens a text contains.

    The write routes work over it (their index is really built, with ``FakeEmbedder``), but it goes on
    answering from its own documents: ``reopen`` returns it as it is.
    """

    model_name = "fake/keyword-overlap"
    embedder = FakeEmbedder()

    def __init__(self, documents: Sequence[Document] = DOCUMENTS, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._documents = {d.doc_id: d for d in documents}
        self._chunks = [c for d in documents for c in chunk(d)]
        self.document_count = len(self._documents)
        self.chunk_count = len(self._chunks)
        self.questions: list[str] = []
        self.store_error: RagError | None = None  # what check() raises: an unreachable engine
        self.reopened = 0
        self._behind = False

    @classmethod
    def from_settings(cls, settings: Settings) -> FakePipeline:
        return cls(settings=settings)

    def documents(self) -> list[Document]:
        return sorted(self._documents.values(), key=lambda d: d.source_file)

    def reopen(self) -> FakePipeline:
        self.reopened += 1
        return self

    def behind(self) -> bool:
        """True once per ``rebuilt()``: an index rebuilt elsewhere that the server should pick up."""
        behind, self._behind = self._behind, False
        return behind

    def rebuilt(self) -> None:
        self._behind = True

    def check(self) -> None:
        if self.store_error is not None:
            raise self.store_error

    def document(self, doc_id: str) -> Document:
        try:
            return self._documents[doc_id]
        except KeyError:
            raise DocumentNotFoundError(f"no document with doc_id {doc_id!r}") from None

    def search(self, query: str, top_k: int | None = None) -> list[Hit]:
        return self._hits(_clean(query), top_k or self.settings.top_k)

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        top_k = top_k or self.settings.top_k
        question = _clean(question)
        self.questions.append(question)
        hits = self._hits(question, top_k)
        evidence = self._evidence(tokens(question), hits, top_k, EVIDENCE_THRESHOLD)
        shown = evidence or self._evidence(tokens(question), hits, top_k, UNCERTAIN_THRESHOLD)
        grade: Grade = "answered" if evidence else "uncertain" if shown else "not_covered"
        return Answer(
            question=question,
            answerable=bool(evidence),
            answer=" ".join(e.text for e in evidence),
            evidence=evidence,
            hits=tuple(hits),
            confidence=max((e.score for e in shown), default=0.0),
            timings_ms={"retrieve": 1.25, "extract": 0.5, "total": 1.75},
            grade=grade,
            sources=tuple(self._source(e) for e in shown),
        )

    def _source(self, evidence: Evidence) -> Source:
        """One quote per source, with the sentences around it."""
        document = self._documents[evidence.citation.doc_id]
        before, after = neighbours(document, evidence.citation.start, evidence.citation.end)
        return Source(document, (Quote(evidence, before, after),))

    def _hits(self, query: str, top_k: int) -> list[Hit]:
        wanted = tokens(query)
        scored = sorted(
            (
                (max(overlap(wanted, s.text) for s in c.sentences), position, c)
                for position, c in enumerate(self._chunks)
            ),
            key=lambda item: (-item[0], item[1]),
        )
        return [Hit(c, score, rank) for rank, (score, _, c) in enumerate(scored[:top_k], start=1)]

    def _evidence(self, wanted: frozenset[str], hits: list[Hit], top_k: int, threshold: float) -> tuple[Evidence, ...]:
        best: dict[str, tuple[float, Sentence, Chunk]] = {}
        for hit in hits:
            for sentence in hit.chunk.sentences:
                score, doc_id = overlap(wanted, sentence.text), hit.chunk.doc_id
                if score >= threshold and (doc_id not in best or score > best[doc_id][0]):
                    best[doc_id] = (score, sentence, hit.chunk)
        ranked = sorted(best.values(), key=lambda item: (-item[0], item[1].start))[:top_k]
        return tuple(self._marked(Evidence(s.text, score, self._cite(c, s))) for score, s, c in ranked)

    @staticmethod
    def _marked(evidence: Evidence) -> Evidence:
        """The short answer, as a reader would mark it: here the sentence's first free-standing number."""
        number = NUMBER.search(evidence.text)
        if number is None:
            return evidence
        start = evidence.citation.start + number.start()
        return dataclasses.replace(evidence, answer_start=start, answer_end=start + len(number[0]))

    def _cite(self, chunk: Chunk, sentence: Sentence) -> Citation:
        d = self._documents[chunk.doc_id]
        return Citation(
            d.doc_id,
            d.source_file,
            d.title,
            d.url,
            d.published,
            chunk.chunk_id,
            sentence.start,
            sentence.end,
            d.page_at(sentence.start),
        )


def _clean(text: str) -> str:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise BadQueryError("the question is empty")
    return cleaned


def create_fake_app(documents: Sequence[Document] = DOCUMENTS) -> FastAPI:
    """An app over the fake pipeline, settings from RAG_*: ``uvicorn --factory bench.fakes:create_fake_app``."""
    return create_app(Settings.from_env(), FakePipeline(documents))
