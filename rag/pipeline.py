"""The one Python API that the CLI and the HTTP layer share: wiring only, built once, then ``ask``.

query -> retrievers -> joiner -> extraction -> [ranker] -> evidence -> coverage (without a ranker; with
  RAG_VERIFIER, reading the verifier's judgement of the first sentence) -> sources
  -> [short answers marked in the sentences shown, without a ranker: RAG_SHORT_ANSWERS]
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rag import coverage, extraction, sources
from rag.config import Settings
from rag.coverage import NO_VERIFIER, CoverageModel, Signals
from rag.embedding import Embedder, load_embedder
from rag.errors import ConfigError, DocumentNotFoundError, IndexStaleError
from rag.extraction import ScoredSentence
from rag.freshness import serving_mismatch
from rag.query import Query, QueryAnalyzer
from rag.rankers.base import Ranked, Ranker, select
from rag.rankers.reader import ReaderRanker, SentenceReader, Verifier, candidate, reader_for, verifier_for
from rag.retrieval import Retrieval, Retriever, RRFJoiner, default_retrievers, retrieve
from rag.sources import Pick
from rag.stores import open_backend
from rag.stores.base import REBUILD_HINT, Backend, Store
from rag.timing import Timings
from rag.types import Answer, Document, Evidence, Grade, Hit, Source

DENSE = ("dense", "sentence")
KEYWORD = ("keyword",)


@dataclass(frozen=True)
class Switches:
    """What an ablation turns off: retrievers' votes in the fusion, per-source diversification, the ranker, the
    grade of a question that asks what or who something is from whether the first sentence names it."""

    dense: bool = True
    keyword: bool = True
    diversify: bool = True
    definitions: bool = True


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        store: Store,
        coverage: CoverageModel | None = None,
        ranker: Ranker | None = None,
        switches: Switches = Switches(),
        marker: SentenceReader | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        # The calibrated coverage model decides "not covered" when no ranker does: read (and checked
        # against the embedding model) at start in that case only, and when a variant drops the ranker.
        self._coverage = deciding_model(settings, coverage, ranker)
        self.ranker = ranker
        self.switches = switches
        # Without a ranker: the reader that marks the short answer in the sentences shown (RAG_SHORT_ANSWERS),
        # and the verifier whose logit on the first sentence (or sentences) the coverage model reads (RAG_VERIFIER).
        self.marker = None if ranker else marker
        self.verifier = verifier
        if self._coverage is not None and self._coverage.verified and verifier is None:
            raise ConfigError(NO_VERIFIER)
        self._backend: Backend | None = None  # opened by behind(), kept for the next call
        self.analyzer = QueryAnalyzer(embedder, store.lexicon)
        # Every retriever runs, whatever votes: the coverage signals read the dense and keyword rankings.
        self.retrievers: list[Retriever] = default_retrievers(store)
        weights = {"dense": 1.0, "sentence": 1.0, "keyword": settings.keyword_weight}
        voting = (DENSE if switches.dense else ()) + (KEYWORD if switches.keyword else ())
        self.joiner = RRFJoiner(settings.rrf_k, {name: w for name, w in weights.items() if name in voting})

    @classmethod
    def from_settings(
        cls, settings: Settings, embedder: Embedder | None = None, coverage: CoverageModel | None = None
    ) -> Pipeline:
        """The pipeline over the index in service; reads only the index, never the source documents."""
        store = open_store(settings)
        embedder = embedder or load_embedder(settings)
        reader = reader_for(settings, embedder)
        # With RAG_READER the reader ranks; with RAG_SHORT_ANSWERS alone it only marks the short answers.
        n = settings.reader_candidates
        ranker = ReaderRanker(reader, store.documents, n) if reader and settings.reader else None
        # The verifier is loaded when the coverage model reads it (or, behind the reader, would: an ablation
        # switches the reader off).
        model = deciding_model(settings, coverage, ranker)
        verified = model.verified if model is not None else settings.verifier
        verifier = verifier_for(settings, embedder) if verified else None
        return cls(settings, embedder, store, model, ranker, marker=reader, verifier=verifier)

    def reopen(self) -> Pipeline:
        """The same loaded models over the index in service now, as a rebuild left it: nothing is loaded again."""
        store = open_store(self.settings)
        ranker = self.ranker
        if isinstance(ranker, ReaderRanker):
            ranker = ReaderRanker(ranker.reader, store.documents, ranker.candidates)
        return Pipeline(
            self.settings, self.embedder, store, self._coverage, ranker, self.switches, self.marker, self.verifier
        )

    def behind(self) -> bool:
        """Whether the index in service is no longer the one this pipeline reads (rebuilt since it opened)."""
        if self._backend is None:
            self._backend = open_backend(self.settings)
        return self._backend.manifest() != self.store.manifest

    def variant(
        self,
        *,
        dense: bool = True,
        keyword: bool = True,
        diversify: bool = True,
        reader: bool = True,
        verifier: bool = True,
        definitions: bool = True,
    ) -> Pipeline:
        """The same loaded pipeline with retrievers, diversification, the reader, the verifier or the grading of
        definitional questions switched off (for ablations). Without the verifier, a coverage model that reads it gives
        way to the shipped one that does not."""
        ranker, marker = (self.ranker, self.marker) if reader else (None, None)
        switches = Switches(dense, keyword, diversify, definitions)
        model = self._coverage
        if not verifier and (model.verified if model is not None else self.settings.verifier):
            model = coverage.model_for(self.settings.embedding_model)
        kept = self.verifier if verifier else None
        return Pipeline(self.settings, self.embedder, self.store, model, ranker, switches, marker, kept)

    @property
    def coverage(self) -> CoverageModel:
        if self._coverage is None:
            self._coverage = coverage_for(self.settings)
        return self._coverage

    def check(self) -> None:
        """Raise StoreUnavailableError when the index's engine cannot be reached (a Qdrant server)."""
        self.store.check()

    @property
    def model_name(self) -> str:
        return self.store.manifest.model

    @property
    def document_count(self) -> int:
        return len(self.store.documents.documents)

    @property
    def chunk_count(self) -> int:
        return self.store.documents.chunk_count

    def documents(self) -> list[Document]:
        return sorted(self.store.documents.documents.values(), key=lambda d: d.source_file)

    def document(self, doc_id: str) -> Document:
        try:
            return self.store.documents.documents[doc_id]
        except KeyError:
            raise DocumentNotFoundError(f"no document with doc_id {doc_id!r}") from None

    def search(self, query: str, top_k: int | None = None) -> list[Hit]:
        return self._retrieve(self.analyzer.analyze(query), Timings()).hits[: top_k or self.settings.top_k]

    def ask(self, question: str, top_k: int | None = None, passages: int | None = None) -> Answer:
        """Evidence from up to ``top_k`` sources; ``passages`` (default ``top_k``) closest passages listed."""
        top_k = top_k or self.settings.top_k
        timings = Timings()
        with timings("total"):
            query = self.analyzer.analyze(question, timings)
            r = self._retrieve(query, timings)
            with timings("extract"):
                scored = self._score(query, r)
            if self.ranker is None:
                with timings("extract"):
                    chosen = self._chosen(scored, top_k)
                with timings("coverage"):
                    grade, confidence = self._grade(query, r, scored)
                with timings("sources"):
                    picks = self._with_other_sources(query, r, scored)
                    grouped = self._sources(grade, picks, scored, top_k)
                if self.marker is not None and grouped:
                    # Which sentences are shown is known once they are grouped; grouping the marked picks
                    # again (a fraction of a millisecond, the same sources) carries their answers into the quotes.
                    with timings("reader"):
                        picks = self._marked(query, picks, chosen, grouped, self.marker)
                    with timings("sources"):
                        grouped = self._sources(grade, picks, scored, top_k)
                evidence = self._evidence(chosen, picks)
            else:
                with timings(self.ranker.name):
                    picks, evidence, confidence = self._ranked_evidence(query, scored, top_k, self.ranker)
                grade = self._reader_grade(confidence, self.ranker) if picks else "not_covered"
                with timings("sources"):
                    grouped = self._sources(grade, picks, scored, top_k, self.ranker)
            answerable = bool(evidence) and grade == "answered"
        return Answer(
            question=query.text,
            answerable=answerable,
            answer=extraction.join_answer(evidence) if answerable else "",
            evidence=evidence if answerable else (),
            hits=tuple(r.hits[: top_k if passages is None else passages]),
            confidence=None if confidence is None else round(confidence, 4),
            timings_ms=timings.rounded(),
            grade=grade,
            sources=grouped,
        )

    def signals(self, question: str) -> Signals:
        """What the coverage model sees for ``question`` (for calibration and debugging)."""
        return self.scored(question)[2]

    def scored(self, question: str) -> tuple[Query, list[ScoredSentence], Signals]:
        """The analysed question, extraction's scored sentences (best first) and the coverage signals:
        what a ranker and the coverage model are handed, for measuring them."""
        query = self.analyzer.analyze(question)
        r = self._retrieve(query, Timings())
        scored = self._score(query, r)
        return query, scored, self._signals(query, r, scored)

    def _retrieve(self, query: Query, timings: Timings) -> Retrieval:
        return retrieve(query, self.retrievers, self.joiner, self.store.documents, self.settings.candidates, timings)

    def _score(self, query: Query, r: Retrieval) -> list[ScoredSentence]:
        return extraction.score_passages(query, r, self.store.documents, self.store.vectors, self.store.lexicon.idf)

    def _with_other_sources(self, query: Query, r: Retrieval, scored: list[ScoredSentence]) -> list[Pick]:
        """Extraction's picks, with the best passage of each document that none of its passages brought in."""
        others = extraction.score_other_sources(
            query, r, self.store.documents, self.store.vectors, self.store.lexicon.idf
        )
        return [Pick(s, s.score) for s in sorted([*scored, *others], key=lambda s: -s.score)]

    def _signals(self, query: Query, r: Retrieval, scored: list[ScoredSentence]) -> Signals:
        return coverage.signals(query, r, scored, self.store.lexicon.names, self._verified(query, scored))

    def _grade(self, query: Query, r: Retrieval, scored: list[ScoredSentence]) -> tuple[Grade, float | None]:
        """The coverage model's grade, and its probability that the documents answer (the response's
        ``confidence``): the verifier reads the first sentence (or as many as it was trained to) of every question.
        With RAG_CONFIDENCE=off there is no probability, and the verifier is read only when the retrieval signals
        leave the grade open: for about half the seed sets' questions they settle it whatever it would say."""
        if not scored:  # no sentence speaks to the question
            return "not_covered", 0.0 if self.settings.confidence else None
        model = self.coverage
        signals = coverage.signals(query, r, scored, self.store.lexicon.names)
        # "What is MLA?" is answered by the sentences that name MLA, whose signals are weak for the question's being
        # short: it is answered when the first one names it (README, "Definitional questions"), whatever the model.
        definitional = self.switches.definitions and coverage.names_subject(query, scored[0].sentence.text)
        if not self.settings.confidence:
            settled = "answered" if definitional else model.settled(signals)
            if settled:
                return settled, None
        if model.verified:
            signals = replace(signals, verified=self._verified(query, scored))
        probability = model.probability(signals)
        grade = "answered" if definitional else model.grade(probability, signals)
        return grade, probability if self.settings.confidence else None

    def _verified(self, query: Query, scored: list[ScoredSentence]) -> float | None:
        """The verifier's highest logit over the first sentences it reads, in one batch (NO_SENTENCE without
        any); None without a verifier."""
        if self.verifier is None:
            return None
        if not scored:
            return coverage.NO_SENTENCE
        read = [candidate(s, self.store.documents) for s in scored[: self.verifier.reads]]
        logits, _ = self.verifier.logits_and_spans(query.spelt or query.text, read)
        return float(max(logits))

    def _chosen(self, scored: list[ScoredSentence], top_k: int) -> list[ScoredSentence]:
        # Without diversification: the best sentences overall, whatever their source.
        diverse = self.switches.diversify
        return extraction.select_evidence(scored, top_k) if diverse else list(scored[: min(3, top_k)])

    def _evidence(self, chosen: list[ScoredSentence], picks: list[Pick]) -> tuple[Evidence, ...]:
        answers = {p.sentence.row: p.answer for p in picks if p.answer}
        return tuple(sources.evidence_of(Pick(s, s.score, answers.get(s.row)), self._document_of(s)) for s in chosen)

    def _marked(
        self,
        query: Query,
        picks: list[Pick],
        chosen: list[ScoredSentence],
        grouped: tuple[Source, ...],
        marker: SentenceReader,
    ) -> list[Pick]:
        """``picks`` with the short answers the reader finds in the sentences shown (the evidence and the
        sources' quotes), read in one batch. A sentence gets one only when the reader judges that it answers
        (its probability reaches the reader's threshold), as with RAG_READER=on."""
        by_place = {(p.doc_id, p.sentence.sentence.start): p.sentence for p in picks}
        shown = {s.row: s for s in chosen}
        for source in grouped:
            for quote in source.quotes:
                s = by_place.get((source.document.doc_id, quote.evidence.citation.start))
                if s is not None:
                    shown.setdefault(s.row, s)
        documents = self.store.documents
        readings = marker.read(query.text, [candidate(s, documents) for s in shown.values()])
        answers = {
            row: r.answer
            for row, r in zip(shown, readings, strict=True)
            if r.answer is not None and r.probability >= marker.threshold
        }
        return [replace(p, answer=answers.get(p.sentence.row)) for p in picks]

    def _ranked_evidence(
        self, query: Query, scored: list[ScoredSentence], top_k: int, ranker: Ranker
    ) -> tuple[list[Pick], tuple[Evidence, ...], float]:
        """The ranker's picks, most likely answer first; its evidence; its probability that the best answers."""
        ranked = ranker.rank(query, scored)
        if not self.switches.diversify:
            chosen = [r for r in ranked[: min(3, top_k)] if r.probability >= ranker.threshold] or ranked[:1]
        else:
            chosen = select(ranked, top_k, ranker.threshold)
        evidence = tuple(self._short_answer(r, ranker.threshold) for r in chosen)
        picks = [Pick(r.scored, r.probability, r.answer) for r in ranked]
        return picks, evidence, ranked[0].probability if ranked else 0.0

    def _short_answer(self, ranked: Ranked, threshold: float) -> Evidence:
        pick = Pick(ranked.scored, ranked.probability, ranked.answer if ranked.probability >= threshold else None)
        return sources.evidence_of(pick, self._document_of(ranked.scored))

    @staticmethod
    def _reader_grade(confidence: float, ranker: Ranker) -> Grade:
        return coverage.grade(confidence, ranker.threshold, ranker.uncertain)

    def _sources(
        self,
        grade: Grade,
        picks: list[Pick],
        scored: list[ScoredSentence],
        top_k: int,
        ranker: Ranker | None = None,
    ) -> tuple[Source, ...]:
        """What each source says, for an answered or uncertain question; nothing when not covered."""
        if grade == "not_covered" or not picks:
            return ()
        documents = self.store.documents.documents
        if ranker is None:
            # Extraction's scores: each source that comes within SOURCE_MARGIN of the best sentence.
            floor = picks[0].score - sources.SOURCE_MARGIN
            return sources.group(picks, [p.sentence for p in picks], documents, floor, top_k)
        floor = ranker.threshold if grade == "answered" or ranker.uncertain is None else ranker.uncertain
        floor = min(floor, picks[0].score)  # the best pick is shown, whatever else reaches the floor
        return sources.group(picks, scored, documents, floor, top_k, judged=True)

    def _document_of(self, s: ScoredSentence) -> Document:
        return self.store.documents.documents[s.chunk.doc_id]


def open_store(settings: Settings) -> Store:
    store = open_backend(settings).open()
    mismatch = serving_mismatch(store.manifest, settings)
    if mismatch:
        raise IndexStaleError(f"index in {settings.index_dir} cannot serve ({mismatch}): {REBUILD_HINT}")
    return store


def coverage_for(settings: Settings) -> CoverageModel:
    return coverage.model_for(settings.embedding_model, verified=settings.verifier)


def deciding_model(settings: Settings, given: CoverageModel | None, ranker: Ranker | None) -> CoverageModel | None:
    """The coverage model that decides "not covered": the one given, else the shipped one unless a ranker decides
    (decided once here: ``from_settings`` must know it before loading the verifier it may read)."""
    return given if given is not None or ranker else coverage_for(settings)
