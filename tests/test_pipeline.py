"""The Python API that the CLI and HTTP layer share, over a real index built with the hash embedder."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from embedders import CORPUS, BigramReader, HashEmbedder, build_local, open_local, write_corpus

from rag import pipeline
from rag.config import MAX_QUESTION_CHARS, Settings
from rag.coverage import CROSSLINGUAL_QUESTION, FEATURES, NO_SENTENCE, VERIFIED, CoverageModel, default_model
from rag.embedding import Kind
from rag.errors import BadQueryError, ConfigError, DocumentNotFoundError, IndexMissingError, IndexStaleError
from rag.pipeline import Pipeline
from rag.query import QueryAnalyzer, latin_share
from rag.rankers.reader import ReaderRanker
from rag.stores.base import Store
from rag.text.crosslingual import Dictionary
from rag.text.lexicon import Idf, Lexicon
from rag.timing import Timings
from rag.types import Answer, Candidate, Chunk, Hit


def _constant(bias: float) -> CoverageModel:
    n = len(FEATURES)
    return CoverageModel(weights=(0.0,) * n, bias=bias, mean=(0.0,) * n, scale=(1.0,) * n)


ALWAYS = _constant(30.0)
NEVER = _constant(-30.0)
# Answerable when keyword search finds any of the question's words: a decision that rests on words
# only, so the hash embedder's similarities cannot tip it.
BY_KEYWORDS = CoverageModel(
    weights=tuple(10.0 if f == "keyword" else 0.0 for f in FEATURES),
    bias=0.0,
    mean=tuple(0.1 if f == "keyword" else 0.0 for f in FEATURES),
    scale=(1.0,) * len(FEATURES),
)

QUESTIONS = [
    pytest.param("What do giant pandas eat?", id="en"),
    pytest.param("大熊猫吃什么？", id="zh"),
    pytest.param("How much does a zoo ticket cost?", id="en-html"),
    pytest.param("龙井茶产于哪里？", id="zh-tea"),
    pytest.param("Do pandas eat 竹子?", id="mixed"),
]
WEATHER = "明天北京天气怎么样？"


class RecordingEmbedder(HashEmbedder):
    """The hash embedder that keeps the texts it is handed, per call."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[list[str]] = []

    def embed(self, texts: list[str], kind: Kind, progress: bool = False) -> np.ndarray:
        self.texts.append(list(texts))
        return super().embed(texts, kind, progress)


def _settings(root: Path) -> Settings:
    return Settings(
        seeds_dir=write_corpus(root / "seeds"),
        index_dir=root / "index",
        embedding_model=HashEmbedder().name,
        chunk_size=100,
    )


def _build(settings: Settings) -> None:
    build_local(settings)


def _chunks(qa: Pipeline) -> list[Chunk]:
    return [qa.store.documents.chunk(i) for i in range(qa.chunk_count)]


def _rank(hit: Hit, retriever: str) -> int | None:
    ranked = hit.ranked_by(retriever)
    return None if ranked is None else ranked[0]


def _score(hit: Hit, retriever: str) -> float | None:
    ranked = hit.ranked_by(retriever)
    return None if ranked is None else ranked[1]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = _settings(tmp_path_factory.mktemp("pipeline"))
    _build(settings)
    return settings


@pytest.fixture(scope="module")
def index(settings: Settings) -> Store:
    return open_local(settings)


@pytest.fixture
def qa(settings: Settings, index: Store) -> Pipeline:
    return Pipeline(settings, HashEmbedder(), index, coverage=ALWAYS)


@pytest.fixture
def loader(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Settings]]:
    """Stands in for the model loader: no model is loaded, and the calls are recorded."""
    calls: list[Settings] = []

    def load(settings: Settings) -> HashEmbedder:
        calls.append(settings)
        return HashEmbedder()

    monkeypatch.setattr(pipeline, "load_embedder", load)
    monkeypatch.setattr(pipeline, "reader_for", lambda settings, embedder=None: None)
    yield calls


def _doc_ids(answer: Answer) -> set[str]:
    return {e.citation.doc_id for e in answer.evidence}


# --- answers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_citation_quotes_its_document_exactly(qa: Pipeline, question: str) -> None:
    answer = qa.ask(question)
    assert answer.answerable and answer.evidence
    for evidence in answer.evidence:
        c = evidence.citation
        doc = qa.document(c.doc_id)
        assert doc.text[c.start : c.end] == evidence.text
        assert (c.title, c.source_file, c.url, c.published) == (doc.title, doc.source_file, doc.url, doc.published)
        chunk = next(ch for ch in _chunks(qa) if ch.chunk_id == c.chunk_id)
        assert chunk.doc_id == c.doc_id and chunk.start <= c.start < c.end <= chunk.end
        assert evidence.text in answer.answer


def test_citations_keep_the_documents_metadata(qa: Pipeline) -> None:
    answer = qa.ask("Which pandas eat bamboo?")
    cited = {e.citation.doc_id: e.citation for e in answer.evidence}
    assert cited["panda_en"].url == "https://example.com/pandas"
    assert cited["panda_en"].published == "2024-05-01"
    assert cited["zoo"].title == "City Zoo visitor guide"


@pytest.mark.parametrize("question", ["Which pandas eat bamboo?", "How much bamboo do pandas eat?"])
def test_evidence_comes_from_each_source_that_speaks_to_the_question(qa: Pipeline, question: str) -> None:
    assert {"panda_en", "zoo"} <= _doc_ids(qa.ask(question))


def test_top_k_caps_the_evidence(qa: Pipeline) -> None:
    assert len(qa.ask("Which pandas eat bamboo?", top_k=1).evidence) == 1


def test_without_diversification_evidence_is_the_best_three_sentences(qa: Pipeline) -> None:
    plain = qa.variant(diversify=False)
    assert len(plain.ask("Which pandas eat bamboo?", top_k=5).evidence) == 3
    assert len(plain.ask("Which pandas eat bamboo?", top_k=2).evidence) == 2


def test_the_question_is_echoed_with_its_spacing_normalised(qa: Pipeline) -> None:
    assert qa.ask("  Which   pandas\neat bamboo?\t").question == "Which pandas eat bamboo?"


def test_each_stage_is_timed(qa: Pipeline) -> None:
    timings = qa.ask("Which pandas eat bamboo?").timings_ms
    stages = {"embed", "expand", "dense", "sentence", "keyword", "fuse", "extract", "coverage", "total"}
    assert stages <= timings.keys()
    assert all(ms >= 0 for ms in timings.values())
    assert timings["total"] >= timings["extract"] + timings["embed"]


# --- questions the corpus does not cover ------------------------------------------------------


def test_an_off_topic_question_has_no_words_in_the_corpus(qa: Pipeline) -> None:
    off_topic, on_topic = qa.signals(WEATHER), qa.signals("大熊猫吃什么？")
    assert off_topic.keyword == 0.0 and on_topic.keyword > 1.0
    assert all(_rank(h, "keyword") is None for h in qa.search(WEATHER, top_k=20))


def test_scored_hands_out_what_ask_quotes_from(qa: Pipeline) -> None:
    question = "Which pandas eat bamboo?"
    query, scored, signals = qa.scored(question)
    assert query.text == question and signals == qa.signals(question)
    assert [s.score for s in scored] == sorted((s.score for s in scored), reverse=True)
    assert qa.ask(question).evidence[0].text == scored[0].sentence.text


def test_an_uncovered_question_gets_no_answer_but_the_closest_passages(settings: Settings, index: Store) -> None:
    qa = Pipeline(settings, HashEmbedder(), index, coverage=BY_KEYWORDS)
    answer = qa.ask(WEATHER)
    assert (answer.answerable, answer.answer, answer.evidence) == (False, "", ())
    assert len(answer.hits) == 5
    assert qa.ask("大熊猫吃什么？").answerable


def test_when_the_coverage_model_says_no_nothing_is_quoted(settings: Settings, index: Store) -> None:
    answer = Pipeline(settings, HashEmbedder(), index, coverage=NEVER).ask("Which pandas eat bamboo?")
    assert (answer.answerable, answer.answer, answer.evidence) == (False, "", ())
    assert answer.hits


def test_a_question_that_asks_what_something_is_is_answered_when_the_first_sentence_names_it(
    settings: Settings, index: Store
) -> None:
    qa = Pipeline(settings, HashEmbedder(), index, coverage=NEVER)
    answer = qa.ask("龙井茶是什么？")
    assert answer.grade == "answered" and answer.answerable
    assert "龙井茶" in answer.evidence[0].text
    assert qa.variant(definitions=False).ask("龙井茶是什么？").grade == "not_covered"  # the ablation


def test_a_question_in_traditional_script_finds_simplified_text(settings: Settings, index: Store) -> None:
    qa = Pipeline(settings, HashEmbedder(), index, coverage=NEVER)
    _, traditional, _ = qa.scored("綠茶經過發酵嗎？春天採摘的茶價格高嗎？")
    _, simple, _ = qa.scored("绿茶经过发酵吗？春天采摘的茶价格高吗？")
    assert traditional[0].sentence == simple[0].sentence and traditional[0].overlap == simple[0].overlap > 0


def test_a_question_in_traditional_script_is_embedded_and_verified_as_the_corpus_writes(
    settings: Settings, index: Store
) -> None:
    embedder = RecordingEmbedder()
    qa = Pipeline(settings, embedder, index, coverage=NEVER)
    assert index.lexicon.simplified
    query = qa.analyzer.analyze("綠茶經過發酵嗎？")
    assert query.text == "綠茶經過發酵嗎？" and query.spelt == "绿茶经过发酵吗？"
    assert embedder.texts[-1] == ["绿茶经过发酵吗？"]
    assert qa.analyzer.analyze("绿茶经过发酵吗？").spelt is None
    # Over a corpus in traditional script the question is read as typed.
    traditional = Lexicon(Idf({"綠茶": 1.0, "經過": 1.0, "發酵": 1.0}), frozenset(), Dictionary({}, frozenset()))
    read = QueryAnalyzer(embedder, traditional).analyze("綠茶經過發酵嗎？")
    assert read.spelt is None and embedder.texts[-1] == ["綠茶經過發酵嗎？"]


def test_a_question_word_cut_across_a_corpus_word_is_also_searched_as_it() -> None:
    lexicon = Lexicon(Idf({"参数": 2.0, "数量": 1.0, "模型": 1.0}), frozenset(), Dictionary({}, frozenset()))
    query = QueryAnalyzer(HashEmbedder(), lexicon).analyze("模型的总参数量是多少？")
    assert ["总参", "参数"] in query.terms and "参数" in query.search_terms  # jieba's cut: 总参|数量


def test_a_term_typed_alone_is_answered_as_what_it_is(settings: Settings, index: Store) -> None:
    qa = Pipeline(settings, HashEmbedder(), index, coverage=NEVER)
    answer = qa.ask("龙井茶")
    assert answer.grade == "answered" and "龙井茶" in answer.evidence[0].text
    assert qa.ask("quantum chromodynamics").grade == "not_covered"  # no sentence names it


@pytest.mark.parametrize("question", ["What is quantum chromodynamics?", "龙井茶产于哪里？"])
def test_a_subject_no_sentence_names_or_another_kind_of_question_is_left_to_the_coverage_model(
    settings: Settings, index: Store, question: str
) -> None:
    assert Pipeline(settings, HashEmbedder(), index, coverage=NEVER).ask(question).grade == "not_covered"


@pytest.mark.parametrize("question", [WEATHER, "Which pandas eat bamboo?"])
def test_the_calibrated_decision_and_the_evidence_agree(settings: Settings, index: Store, question: str) -> None:
    answer = Pipeline(settings, HashEmbedder(), index, coverage=default_model()).ask(question)
    assert answer.answerable == bool(answer.evidence) == bool(answer.answer)


# --- bad questions -----------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["", "   ", "\n\t "])
def test_a_blank_question_is_refused(qa: Pipeline, question: str) -> None:
    with pytest.raises(BadQueryError, match="empty"):
        qa.ask(question)
    with pytest.raises(BadQueryError, match="empty"):
        qa.search(question)


def test_a_question_over_the_limit_is_refused(qa: Pipeline) -> None:
    with pytest.raises(BadQueryError, match=str(MAX_QUESTION_CHARS)):
        qa.ask("熊" * (MAX_QUESTION_CHARS + 1))
    with pytest.raises(BadQueryError, match=str(MAX_QUESTION_CHARS)):
        qa.search("熊" * (MAX_QUESTION_CHARS + 1))


def test_a_question_at_the_limit_is_answered(qa: Pipeline) -> None:
    question = "熊" * MAX_QUESTION_CHARS
    assert qa.ask(f"  {question}  ").question == question


# --- retrieval ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("passages", "expected"),
    [
        pytest.param(1, 1, id="one"),
        pytest.param(3, 3, id="three"),
        pytest.param(None, 5, id="default-top-k"),
        pytest.param(50, 11, id="more-than-there-are"),
    ],
)
def test_passages_sets_the_number_of_hits(qa: Pipeline, passages: int | None, expected: int) -> None:
    assert qa.chunk_count == 11
    answer = qa.ask("Which pandas eat bamboo?", top_k=5, passages=passages)
    assert [h.rank for h in answer.hits] == list(range(1, expected + 1))


def test_passages_does_not_change_the_evidence(qa: Pipeline) -> None:
    few, many = qa.ask("Which pandas eat bamboo?", top_k=2, passages=1), qa.ask("Which pandas eat bamboo?", top_k=2)
    assert few.evidence == many.evidence and len(few.hits) == 1


def test_search_keeps_each_retrievers_score_and_rank(qa: Pipeline) -> None:
    hits = qa.search("Which pandas eat bamboo?", top_k=20)
    assert [h.rank for h in hits] == list(range(1, qa.chunk_count + 1))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for retriever in ("dense", "sentence"):  # dense search ranks every chunk, both ways
        by_dense = sorted(hits, key=lambda h: _rank(h, retriever) or 0)
        assert [_rank(h, retriever) for h in by_dense] == list(range(1, len(hits) + 1))
        scores = [_score(h, retriever) or 0.0 for h in by_dense]
        assert scores == sorted(scores, reverse=True)
    keyword = sorted((h for h in hits if _rank(h, "keyword") is not None), key=lambda h: _rank(h, "keyword") or 0)
    assert [_rank(h, "keyword") for h in keyword] == list(range(1, len(keyword) + 1))
    assert all((_score(h, "keyword") or 0.0) > 0 for h in keyword)
    assert "tea_zh#0" in {h.chunk.chunk_id for h in hits} - {h.chunk.chunk_id for h in keyword}


def test_dense_scores_are_the_cosine_of_question_and_passage(qa: Pipeline) -> None:
    question = "Which pandas eat bamboo?"
    query = HashEmbedder().embed([question], "query")[0]
    for hit in qa.search(question, top_k=20):
        passage = HashEmbedder().embed([hit.chunk.text], "passage")[0]
        assert _score(hit, "dense") == pytest.approx(float(np.dot(query, passage)), abs=1e-5)


def test_search_returns_top_k_hits(qa: Pipeline) -> None:
    assert len(qa.search("panda", top_k=2)) == 2
    assert qa.search("panda", top_k=2) == qa.search("panda", top_k=20)[:2]


def test_an_english_word_finds_chinese_passages_through_the_dictionary(qa: Pipeline) -> None:
    hits = qa.search("bamboo", top_k=20)
    assert {"panda_zh"} <= {h.chunk.doc_id for h in hits if _rank(h, "keyword") is not None}


def test_a_word_of_the_title_finds_the_documents_passages(qa: Pipeline) -> None:
    # "explained" is only in the title of panda_en.md: every passage is indexed under its title,
    # as an interview's answers are about the person its title names.
    by_keyword = [h for h in qa.search("explained", top_k=20) if _rank(h, "keyword") is not None]
    assert by_keyword and {h.chunk.doc_id for h in by_keyword} == {"panda_en"}
    assert len(by_keyword) == sum(c.doc_id == "panda_en" for c in _chunks(qa))


def test_a_sentence_is_matched_with_its_documents_title(qa: Pipeline) -> None:
    # No sentence says "explained", but panda_en.md's title does: its sentences hold the question's
    # words (without the title, the hash embedder's nearest sentences come from panda_zh and zoo).
    answer = qa.ask("explained", top_k=2)
    assert [e.citation.doc_id for e in answer.evidence] == ["panda_en", "panda_en"]


def _single_ranking_rank(hit: Hit, k: int) -> float:
    """What is left of a fused score once the passage ranking's 1 / (k + rank) is taken out, as a rank."""
    dense_rank = _rank(hit, "dense")
    assert dense_rank is not None
    rest = hit.score - 1.0 / (k + dense_rank)
    return 1.0 / rest - k


def test_without_keyword_search_only_the_dense_rankings_count(qa: Pipeline) -> None:
    k = qa.settings.rrf_k
    fused = qa.search("Which pandas eat bamboo?", top_k=20)
    dense = qa.variant(keyword=False).search("Which pandas eat bamboo?", top_k=20)
    assert [h.chunk.chunk_id for h in dense] != [h.chunk.chunk_id for h in fused]
    for hit in dense:  # passage rank + best-sentence rank, each with weight 1; no keyword vote
        rank = _single_ranking_rank(hit, k)
        assert rank == pytest.approx(round(rank), abs=1e-6) and 1 <= round(rank) <= len(dense)


def test_without_dense_search_the_keyword_ranking_is_the_ranking(qa: Pipeline) -> None:
    k = qa.settings.rrf_k
    hits = qa.variant(dense=False).search("Which pandas eat bamboo?", top_k=20)
    assert [_rank(h, "keyword") for h in hits] == [h.rank for h in hits]
    weight = qa.settings.keyword_weight
    assert [h.score for h in hits] == pytest.approx([weight / (k + h.rank) for h in hits])


def test_a_variant_shares_the_loaded_index(qa: Pipeline) -> None:
    variant = qa.variant(keyword=False)
    assert variant.store is qa.store and variant.embedder is qa.embedder and variant.coverage is qa.coverage


# --- documents ---------------------------------------------------------------------------------


def test_documents_are_listed_by_source_file(qa: Pipeline) -> None:
    assert [d.source_file for d in qa.documents()] == sorted(CORPUS)
    assert qa.document("zoo").title == "City Zoo visitor guide"
    assert qa.document_count == len(CORPUS)


def test_an_unknown_document_is_not_found(qa: Pipeline) -> None:
    with pytest.raises(DocumentNotFoundError, match="'nope'"):
        qa.document("nope")


# --- from_settings -----------------------------------------------------------------------------


def test_from_settings_loads_a_fresh_index(settings: Settings, loader: list[Settings]) -> None:
    qa = Pipeline.from_settings(settings, coverage=ALWAYS)
    assert loader == [settings]
    assert (qa.model_name, qa.document_count, qa.chunk_count) == (settings.embedding_model, len(CORPUS), 11)


def test_from_settings_refuses_a_stale_index_before_loading_the_model(
    settings: Settings, loader: list[Settings]
) -> None:
    with pytest.raises(IndexStaleError) as err:
        Pipeline.from_settings(dataclasses.replace(settings, chunk_size=200))
    assert "rag index" in str(err.value) and "chunking" in str(err.value)
    assert loader == []


def test_serving_reads_only_the_index_not_the_source_files(tmp_path: Path, loader: list[Settings]) -> None:
    # An API replica has the index directory and nothing else; `rag index` is what notices edits.
    settings = _settings(tmp_path)
    _build(settings)
    before = Pipeline.from_settings(settings, coverage=ALWAYS).ask("How much is a ticket?")
    for path in settings.seeds_dir.iterdir():
        path.unlink()
    settings.seeds_dir.rmdir()
    after = Pipeline.from_settings(settings, coverage=ALWAYS).ask("How much is a ticket?")
    assert after.evidence == before.evidence and after.evidence


def test_the_shipped_coverage_model_is_refused_for_another_embedding_model(
    settings: Settings, loader: list[Settings]
) -> None:
    with pytest.raises(ConfigError, match="was fitted for model"):
        Pipeline.from_settings(settings)  # built with the hash embedder, calibrated for e5


def test_from_settings_without_an_index_says_how_to_build_one(tmp_path: Path, loader: list[Settings]) -> None:
    with pytest.raises(IndexMissingError, match="rag index"):
        Pipeline.from_settings(Settings(index_dir=tmp_path / "index"))
    assert loader == []


# --- the verifier's signal (a fake verifier: the share of the question's bigrams as a logit) ---------

# Answerable when the verifier's logit on the first sentence is positive, whatever the retrieval signals say.
BY_VERIFIER = CoverageModel(
    weights=tuple(10.0 if f == "verified" else 0.0 for f in VERIFIED),
    bias=0.0,
    mean=(0.0,) * len(VERIFIED),
    scale=(1.0,) * len(VERIFIED),
    features=VERIFIED,
)


def test_the_verifier_reads_the_first_sentence_and_the_coverage_model_its_logit(
    settings: Settings, index: Store
) -> None:
    verifier = BigramReader()
    qa = Pipeline(settings, HashEmbedder(), index, coverage=BY_VERIFIER, verifier=verifier)
    question = "How much does a zoo ticket cost?"
    _, scored, signals = qa.scored(question)
    assert verifier.batches == [1]  # one sentence read, the scorer's first
    first = _ranker(verifier, settings, index).candidate(scored[0])
    assert signals.verified == pytest.approx(float(verifier.logits_and_spans(question, [first])[0][0]))
    answer = qa.ask(question)
    assert answer.answerable == (signals.verified > 0) and answer.timings_ms["coverage"] >= 0
    assert BY_VERIFIER.probability(signals) == pytest.approx(1 / (1 + np.exp(-10 * signals.verified)), abs=1e-9)


def test_a_verifier_that_reads_more_sentences_reads_them_in_one_batch_and_gives_the_highest_logit(
    settings: Settings, index: Store
) -> None:
    class Fixed(BigramReader):
        """Its logits are fixed by place, the highest on the second sentence read."""

        def logits_and_spans(
            self, question: str, candidates: Sequence[Candidate]
        ) -> tuple[np.ndarray, list[tuple[int, int] | None]]:
            self.batches.append(len(candidates))
            return np.array([-1.0, 2.0, 0.0, 5.0][: len(candidates)]), [None] * len(candidates)

    verifier = Fixed(reads=3)
    qa = Pipeline(settings, HashEmbedder(), index, coverage=BY_VERIFIER, verifier=verifier)
    _, scored, signals = qa.scored("How much does a zoo ticket cost?")
    assert len(scored) >= 4 and verifier.batches == [3]  # three read in one batch, not the fourth
    assert signals.verified == 2.0


def test_the_confidence_is_the_coverage_models_probability_with_the_verifier_read_for_every_question(
    settings: Settings, index: Store
) -> None:
    n = len(VERIFIED)
    # The retrieval signals decide this one whatever the verifier says; its probability still reads the logit.
    sure = CoverageModel((0.0,) * (n - 1) + (0.1,), 3.0, (0.0,) * n, (1.0,) * n, features=VERIFIED)
    verifier = BigramReader()
    qa = Pipeline(settings, HashEmbedder(), index, coverage=sure, verifier=verifier)
    question = "How much does a zoo ticket cost?"
    _, _, signals = qa.scored(question)
    verifier.batches.clear()
    answer = qa.ask(question)
    assert answer.grade == "answered" and verifier.batches == [1]
    assert answer.confidence == pytest.approx(sure.probability(signals), abs=1e-4)
    assert answer.confidence != pytest.approx(sure.probability(dataclasses.replace(signals, verified=0.0)), abs=1e-4)
    refused = Pipeline(settings, HashEmbedder(), index, coverage=NEVER).ask(question)
    assert refused.grade == "not_covered" and refused.confidence is not None and refused.confidence < 1e-6


def test_without_confidence_the_verifier_is_not_read_when_the_retrieval_signals_settle_the_grade(
    settings: Settings, index: Store
) -> None:
    n = len(VERIFIED)
    sure = CoverageModel((0.0,) * n, 30.0, (0.0,) * n, (1.0,) * n, features=VERIFIED, verified_range=(-5.0, 5.0))
    verifier = BigramReader()
    fast = dataclasses.replace(settings, confidence=False)
    answer = Pipeline(fast, HashEmbedder(), index, coverage=sure, verifier=verifier).ask(
        "How much does a zoo ticket cost?"
    )
    assert answer.grade == "answered" and verifier.batches == [] and answer.confidence is None
    open_question = dataclasses.replace(BY_VERIFIER, verified_range=(-5.0, 5.0))
    answer = Pipeline(fast, HashEmbedder(), index, coverage=open_question, verifier=verifier).ask(
        "How much does a zoo ticket cost?"
    )
    assert verifier.batches == [1] and answer.confidence is None


def test_the_verifier_reads_the_question_with_its_pinyin_names_as_the_corpus_writes_them(
    settings: Settings, index: Store
) -> None:
    asked: list[str] = []

    class Recording(BigramReader):
        def logits_and_spans(
            self, question: str, candidates: Sequence[Candidate]
        ) -> tuple[np.ndarray, list[tuple[int, int] | None]]:
            asked.append(question)
            return super().logits_and_spans(question, candidates)

    verifier = Recording()
    qa = Pipeline(settings, HashEmbedder(), index, coverage=BY_VERIFIER, verifier=verifier)
    query, _, _ = qa.scored("Which tea comes from Zhejiang?")  # a name the dictionary lacks, read by its sound
    assert query.text == "Which tea comes from Zhejiang?" and query.spelt == "Which tea comes from 浙江?"
    assert asked == ["Which tea comes from 浙江?"]
    plain, _, _ = qa.scored("Which tea is green?")
    assert plain.spelt is None and asked[-1] == "Which tea is green?"


def test_a_question_that_finds_no_sentence_gets_the_verifiers_lowest_signal(settings: Settings, index: Store) -> None:
    qa = Pipeline(settings, HashEmbedder(), index, coverage=BY_VERIFIER, verifier=BigramReader())
    query = qa.analyzer.analyze("How much does a zoo ticket cost?")
    assert qa._verified(query, []) == NO_SENTENCE


def test_a_coverage_model_that_reads_the_verifier_is_refused_without_one(settings: Settings, index: Store) -> None:
    with pytest.raises(ConfigError, match="no verifier was loaded"):
        Pipeline(settings, HashEmbedder(), index, coverage=BY_VERIFIER)


def test_the_verifier_off_variant_decides_by_the_shipped_retrieval_model(
    settings: Settings, index: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline.coverage, "model_for", lambda model, ranker=None, verified=False: BY_KEYWORDS)
    qa = Pipeline(settings, HashEmbedder(), index, coverage=BY_VERIFIER, verifier=BigramReader())
    off = qa.variant(verifier=False)
    assert off.verifier is None and off.coverage is BY_KEYWORDS and qa.coverage is BY_VERIFIER
    assert off.signals("How much does a zoo ticket cost?").verified is None
    assert qa.variant(dense=False).verifier is qa.verifier


def test_without_a_verifier_the_signals_have_none_and_the_retrieval_model_decides(
    settings: Settings, index: Store
) -> None:
    qa = Pipeline(settings, HashEmbedder(), index, coverage=BY_KEYWORDS)
    assert qa.signals("How much does a zoo ticket cost?").verified is None


# --- the reader stage (a fake reader: the share of the question's bigrams a sentence holds) ---------


@pytest.fixture
def read_qa(settings: Settings, index: Store) -> Pipeline:
    return Pipeline(settings, HashEmbedder(), index, coverage=NEVER, ranker=_ranker(BigramReader(), settings, index))


def _ranker(reader: BigramReader, settings: Settings, index: Store) -> ReaderRanker:
    return ReaderRanker(reader, index.documents, settings.reader_candidates)


def test_a_pipeline_knows_when_the_index_was_rebuilt_since_it_opened(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _build(settings)
    qa = Pipeline.from_settings(settings, HashEmbedder(), coverage=NEVER)
    assert not qa.behind()
    (settings.seeds_dir / "extra.txt").write_text("Red pandas eat bamboo and fruit.", "utf-8")
    _build(settings)
    assert qa.behind()
    fresh = qa.reopen()
    assert not fresh.behind() and fresh.document_count == qa.document_count + 1


def test_the_coverage_calibration_is_read_only_when_no_ranker_decides(
    settings: Settings, index: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_settings: Settings) -> CoverageModel:
        raise ConfigError("calibration fitted for another model")

    monkeypatch.setattr(pipeline, "coverage_for", refuse)
    qa = Pipeline(settings, HashEmbedder(), index, ranker=_ranker(BigramReader(), settings, index))
    assert qa.ask("How much does a zoo ticket cost?").question
    with pytest.raises(ConfigError, match="another model"):
        qa.variant(reader=False)
    with pytest.raises(ConfigError, match="another model"):
        Pipeline(settings, HashEmbedder(), index)


def test_the_reader_reads_the_candidates_in_one_batch(settings: Settings, index: Store) -> None:
    reader = BigramReader()
    qa = Pipeline(settings, HashEmbedder(), index, coverage=NEVER, ranker=_ranker(reader, settings, index))
    qa.ask("How much does a zoo ticket cost?")
    assert reader.batches == [min(settings.reader_candidates, index.manifest.sentences)]


def test_with_a_reader_the_evidence_is_in_reader_order(read_qa: Pipeline) -> None:
    answer = read_qa.ask("How much does a zoo ticket cost?")
    assert answer.answerable and answer.evidence
    scores = [e.score for e in answer.evidence]
    assert scores == sorted(scores, reverse=True)
    assert answer.confidence == pytest.approx(scores[0], abs=1e-4)


def test_the_reader_decides_coverage_not_the_coverage_model(read_qa: Pipeline) -> None:
    """The coverage model here says no to everything; the reader's threshold decides instead."""
    assert read_qa.ask("How much does a zoo ticket cost?").answerable
    weather = read_qa.ask(WEATHER)
    assert not weather.answerable and weather.evidence == () and weather.confidence is not None
    assert weather.confidence < BigramReader().threshold


def test_the_short_answer_lies_inside_its_quote(read_qa: Pipeline) -> None:
    answer = read_qa.ask("How much does a zoo ticket cost?")
    marked = [e for e in answer.evidence if e.answer_start is not None]
    assert marked
    for e in marked:
        assert e.answer_end is not None
        assert e.citation.start <= e.answer_start < e.answer_end <= e.citation.end
        text = read_qa.document(e.citation.doc_id).text
        assert text[e.answer_start : e.answer_end].isalnum()


def test_a_sentence_is_read_with_its_title_and_the_sentence_before(
    read_qa: Pipeline, settings: Settings, index: Store
) -> None:
    query = read_qa.analyzer.analyze("What do giant pandas eat?")
    s = read_qa._score(query, read_qa._retrieve(query, Timings()))
    documents = index.documents
    later = next(x for x in s if x.row > 0 and documents.sentence_at(x.row)[1] > 0)
    candidate = _ranker(BigramReader(), settings, index).candidate(later)
    ci, si = documents.sentence_at(later.row - 1)
    assert documents.chunk(ci).sentences[si].text.endswith(candidate.before)
    assert read_qa.document(later.chunk.doc_id).title.startswith(candidate.title)
    assert later.sentence.text.startswith(candidate.sentence)


def test_reader_off_is_todays_path(read_qa: Pipeline) -> None:
    off = read_qa.variant(reader=False)
    assert off.ranker is None
    answer = off.ask("How much does a zoo ticket cost?")
    assert answer.confidence is not None and answer.confidence < 1e-6 and not answer.answerable  # NEVER decides


def test_from_settings_loads_the_reader_it_is_given(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, loader: list[Settings]
) -> None:
    reader = BigramReader()
    monkeypatch.setattr(pipeline, "reader_for", lambda s, embedder=None: reader)
    ranking = Pipeline.from_settings(dataclasses.replace(settings, reader=True), coverage=ALWAYS)
    assert isinstance(ranking.ranker, ReaderRanker) and ranking.ranker.reader is reader
    assert ranking.marker is None  # the ranker marks the short answers itself
    marking = Pipeline.from_settings(dataclasses.replace(settings, short_answers=True), coverage=ALWAYS)
    assert marking.ranker is None and marking.marker is reader


# --- short answers marked by the reader, the sentence scorer choosing (RAG_SHORT_ANSWERS) ---------------

QUESTION = "Which pandas eat bamboo?"


def test_the_reader_marks_short_answers_in_what_the_scorer_chose(settings: Settings, index: Store) -> None:
    plain = Pipeline(settings, HashEmbedder(), index, coverage=ALWAYS).ask(QUESTION)
    reader = BigramReader(threshold=0.0)
    marked = Pipeline(settings, HashEmbedder(), index, coverage=ALWAYS, marker=reader).ask(QUESTION)

    def without_answers(answer: Answer) -> list[tuple[str, int, int]]:
        return [(e.text, e.citation.start, e.citation.end) for e in answer.evidence]

    # The same evidence, sources and decision: the reader only marks.
    assert marked.evidence and without_answers(marked) == without_answers(plain) and marked.grade == plain.grade
    assert [s.document.doc_id for s in marked.sources] == [s.document.doc_id for s in plain.sources]
    assert marked.confidence == plain.confidence and "reader" in marked.timings_ms  # the coverage model's
    quoted = [q.evidence for source in marked.sources for q in source.quotes]
    assert reader.batches == [len({(e.citation.doc_id, e.citation.start) for e in (*marked.evidence, *quoted)})]
    for e in (*marked.evidence, *quoted):
        assert e.answer_start is not None and e.answer_end is not None
        assert e.citation.start <= e.answer_start < e.answer_end <= e.citation.end
        first_word = re.search(r"\w+", e.text)  # what BigramReader marks
        assert (
            first_word and e.text[e.answer_start - e.citation.start : e.answer_end - e.citation.start] == first_word[0]
        )
    assert all(e.answer_start is None for e in plain.evidence)


def test_no_short_answer_where_the_reader_judges_the_sentence_does_not_answer(settings: Settings, index: Store) -> None:
    answer = Pipeline(settings, HashEmbedder(), index, coverage=ALWAYS, marker=BigramReader(threshold=1.1)).ask(
        QUESTION
    )
    quoted = [q.evidence for source in answer.sources for q in source.quotes]
    assert answer.evidence and all(e.answer_start is None for e in (*answer.evidence, *quoted))


def test_nothing_is_read_for_a_question_not_covered(settings: Settings, index: Store) -> None:
    reader = BigramReader(threshold=0.0)
    answer = Pipeline(settings, HashEmbedder(), index, coverage=NEVER, marker=reader).ask(QUESTION)
    assert answer.grade == "not_covered" and reader.batches == []


def test_a_marking_pipeline_keeps_its_reader_in_a_variant_but_not_in_the_reader_off_ablation(
    settings: Settings, index: Store
) -> None:
    reader = BigramReader()
    marking = Pipeline(settings, HashEmbedder(), index, coverage=ALWAYS, marker=reader)
    assert marking.variant(dense=False).marker is reader and marking.variant(reader=False).marker is None


def test_reopen_keeps_the_loaded_models_over_the_index_in_service(read_qa: Pipeline) -> None:
    again = read_qa.reopen()

    assert again.store is not read_qa.store  # read anew, as a rebuild left it
    assert again.embedder is read_qa.embedder and again.coverage is read_qa.coverage
    assert isinstance(again.ranker, ReaderRanker) and isinstance(read_qa.ranker, ReaderRanker)
    assert again.ranker.reader is read_qa.ranker.reader and again.ranker.documents is again.store.documents
    question = "How much does a zoo ticket cost?"
    assert again.ask(question).evidence == read_qa.ask(question).evidence


# --- grades and sources ------------------------------------------------------------------------

UNSURE = dataclasses.replace(_constant(0.0), threshold=0.9, uncertain=0.1)  # probability 0.5: uncertain


def _quotes_are_verbatim(answer: Answer) -> None:
    for source in answer.sources:
        for quote in source.quotes:
            c = quote.evidence.citation
            assert c.doc_id == source.document.doc_id
            assert source.document.text[c.start : c.end] == quote.evidence.text
            for context in (quote.before, quote.after):
                assert context is None or source.document.text[context.start : context.end] == context.text


def test_an_answered_question_shows_what_each_source_says(qa: Pipeline) -> None:
    answer = qa.ask("Which pandas eat bamboo?")
    assert answer.grade == "answered" and answer.answerable
    assert {s.document.doc_id for s in answer.sources} >= _doc_ids(answer)
    assert all(1 <= len(s.quotes) <= 3 for s in answer.sources)
    scores = [s.score for s in answer.sources]
    assert scores == sorted(scores, reverse=True)
    _quotes_are_verbatim(answer)


def test_top_k_caps_the_sources(qa: Pipeline) -> None:
    assert len(qa.ask("Which pandas eat bamboo?", top_k=1).sources) == 1


def test_an_uncertain_question_shows_its_sources_but_is_not_answered(settings: Settings, index: Store) -> None:
    answer = Pipeline(settings, HashEmbedder(), index, coverage=UNSURE).ask("Which pandas eat bamboo?")
    assert answer.grade == "uncertain"
    assert (answer.answerable, answer.answer, answer.evidence) == (False, "", ())
    assert answer.sources
    _quotes_are_verbatim(answer)


def test_a_question_asked_across_languages_is_graded_against_its_own_threshold(
    settings: Settings, index: Store
) -> None:
    # Probability 0.5 for every question: below the general threshold (0.9), above the Latin-script one (0.4); the
    # verifier is read (its weight is 0), as the shipped model reads it when retrieval leaves the grade open.
    n = len(VERIFIED)
    model = CoverageModel((0.0,) * n, 0.0, (0.0,) * n, (1.0,) * n, 0.9, uncertain=0.1, features=VERIFIED)
    graded = dataclasses.replace(model, crosslingual_threshold=0.4)
    qa = Pipeline(settings, HashEmbedder(), index, coverage=graded, verifier=BigramReader())
    english, mixed = "Which pandas eat bamboo?", "大熊猫 pandas 吃什么呢"
    assert latin_share(english) > CROSSLINGUAL_QUESTION >= latin_share(mixed)
    assert qa.ask(english).grade == "answered"
    assert qa.ask(mixed).grade == "uncertain"


def test_over_a_corpus_in_latin_script_a_chinese_question_is_the_one_asked_across_languages() -> None:
    english = Lexicon(Idf({"founders": 1.0, "stock": 1.0, "price": 1.0}), frozenset(), Dictionary({}, frozenset()))
    analyzer = QueryAnalyzer(HashEmbedder(), english)
    assert english.latin
    # A Chinese question is graded here as an English question over Chinese text is.
    assert analyzer.analyze("谁创办了这家公司？").crosslingual == 1.0
    assert analyzer.analyze("Who founded the company?").crosslingual == 0.0


def test_a_question_not_covered_shows_no_sources(settings: Settings, index: Store) -> None:
    answer = Pipeline(settings, HashEmbedder(), index, coverage=NEVER).ask("Which pandas eat bamboo?")
    assert (answer.grade, answer.sources) == ("not_covered", ())
    assert answer.hits


def test_the_shipped_calibration_has_an_uncertain_band_below_answered() -> None:
    model = default_model()
    assert model.uncertain is not None and 0 < model.uncertain < model.threshold
    assert [model.grade(p) for p in (model.threshold, model.uncertain, model.uncertain - 0.01)] == [
        "answered",
        "uncertain",
        "not_covered",
    ]


def test_with_a_reader_its_probabilities_grade_the_answer(settings: Settings, index: Store) -> None:
    reader = BigramReader(threshold=0.99, uncertain=0.2)
    qa = Pipeline(settings, HashEmbedder(), index, coverage=NEVER, ranker=_ranker(reader, settings, index))
    unsure = qa.ask("How much does a zoo ticket cost?")
    assert unsure.confidence is not None and 0.2 <= unsure.confidence < 0.99
    assert unsure.grade == "uncertain" and unsure.sources and not unsure.evidence
    assert all(q.evidence.score >= 0.2 for s in unsure.sources for q in s.quotes if not q.answers_heading)
    assert qa.ask(WEATHER).grade == "not_covered"


def test_with_a_reader_the_sources_carry_its_short_answers(read_qa: Pipeline) -> None:
    answer = read_qa.ask("How much does a zoo ticket cost?")
    assert answer.grade == "answered"
    quotes = [q.evidence for s in answer.sources for q in s.quotes]
    marked = [e for e in quotes if e.answer_start is not None and e.answer_end is not None]
    assert marked
    for e in marked:
        assert e.citation.start <= e.answer_start < e.answer_end <= e.citation.end  # type: ignore[operator]
