"""The labelled question set through the real pipeline and model, against the retrieval issue's targets.

Deselect for a quick loop with ``-m "not benchmark"``. Figures are printed with ``-s`` and by `rag eval`.
Targets not met yet are strict xfails that state the measured figure: they fail loudly once met,
so the marker is removed rather than forgotten.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rag.config import Settings
from rag.embedding import load_embedder
from rag.evaluation.metrics import Outcome, breakdown, load_questions, run, summarize
from rag.indexing import build_index
from rag.pipeline import Pipeline
from rag.stores import open_backend

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "benchmarks" / "questions.jsonl"
HELDOUT = ROOT / "benchmarks" / "heldout.jsonl"
OFF_TOPIC = ROOT / "benchmarks" / "offtopic.jsonl"
DEFINITIONS = ROOT / "benchmarks" / "definitions.jsonl"
TERMS = ROOT / "benchmarks" / "terms.jsonl"
PHRASINGS = ROOT / "benchmarks" / "phrasings.jsonl"
DRESSED = ROOT / "benchmarks" / "dressed.jsonl"
TRADITIONAL = ROOT / "benchmarks" / "traditional.jsonl"

pytestmark = [pytest.mark.benchmark, pytest.mark.model]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    settings = Settings.from_env(seeds_dir=ROOT / "seeds", index_dir=tmp_path_factory.mktemp("index"))
    embedder = load_embedder(settings)
    build_index(settings, embedder, open_backend(settings), [settings.seeds_dir])
    return Pipeline.from_settings(settings, embedder)


def _run(pipeline: Pipeline, questions: Path) -> list[Outcome]:
    return run(load_questions(questions), lambda q: pipeline.ask(q, 5, passages=10), pipeline.store.documents.documents)


@pytest.fixture(scope="module")
def outcomes(pipeline: Pipeline) -> list[Outcome]:
    return _run(pipeline, QUESTIONS)


@pytest.fixture(scope="module")
def overall(outcomes: list[Outcome]) -> dict[str, float | int]:
    summary = summarize(outcomes)
    print("\n", summary)
    return summary


def test_every_gold_quote_is_found_in_the_clean_text(outcomes: list[Outcome]) -> None:
    assert [u for o in outcomes for u in o.unlocated] == []


def test_supporting_passage_in_top_5(overall: dict[str, float | int]) -> None:
    assert overall["hit@5"] >= 0.95


def test_mrr_at_10(overall: dict[str, float | int]) -> None:
    assert overall["mrr@10"] >= 0.85


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_language_finds_its_passages(outcomes: list[Outcome], lang: str) -> None:
    assert breakdown(outcomes)["lang"][lang]["hit@5"] >= 0.90


@pytest.mark.xfail(strict=True, reason="measured 0.84 (0.90 with every question answered): false declines empty it")
def test_evidence_holds_a_gold_sentence(overall: dict[str, float | int]) -> None:
    assert overall["evidence_hit"] >= 0.85


@pytest.mark.xfail(strict=True, reason="measured 0.77 (0.88 with every question answered)")
def test_disputed_questions_show_most_sources(overall: dict[str, float | int]) -> None:
    assert overall["disputed_source_coverage"] >= 0.80


def test_unanswerable_questions_are_declined(overall: dict[str, float | int]) -> None:
    assert overall["no_answer_true_rate"] >= 0.85


@pytest.mark.xfail(strict=True, reason="measured 0.085: the coverage signals overlap (docs/tuning.md)")
def test_answerable_questions_are_rarely_declined(overall: dict[str, float | int]) -> None:
    assert overall["no_answer_false_rate"] <= 0.05


def test_every_citation_points_at_its_quote(overall: dict[str, float | int]) -> None:
    assert overall["citation_integrity"] == 1.0


# The grouped view (sources, grades): the answers issue's targets.
def test_disputed_questions_show_their_sources_grouped(overall: dict[str, float | int]) -> None:
    assert overall["disputed_grouped_coverage"] >= 0.90


def test_no_answer_that_retrieval_found_is_hidden(overall: dict[str, float | int]) -> None:
    print(
        f"\n answerable graded answered {overall['answerable_answered']}, uncertain {overall['answerable_uncertain']},"
        f" not covered {overall['answerable_not_covered']}"
    )
    assert overall["not_covered_with_gold_in_top5"] == 0


def test_no_source_card_quotes_only_a_question(
    overall: dict[str, float | int], held_out: dict[str, float | int]
) -> None:
    assert overall["question_only_cards"] == held_out["question_only_cards"] == 0


@pytest.fixture(scope="module")
def held_out(pipeline: Pipeline) -> dict[str, float | int]:
    summary = summarize(_run(pipeline, HELDOUT))
    print("\n held-out:", summary)
    return summary


# The reader issue's targets, on both sets. The strict xfails state what the default path (reader off)
# measures; the shipped reader measures lower still (README, "The reader"), so it stays off by default.
def _xfail(measured: float) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"measured {measured}; the reader issue is blocked")


BENCHMARK_TARGETS = [
    pytest.param("evidence_hit", ">=", 0.92, id="evidence", marks=_xfail(0.841)),
    pytest.param("disputed_source_coverage", ">=", 0.85, id="disputed", marks=_xfail(0.767)),
    pytest.param("no_answer_true_rate", ">=", 0.85, id="unanswerable-declined"),
    pytest.param("no_answer_false_rate", "<=", 0.05, id="answerable-declined", marks=_xfail(0.085)),
]
HELD_OUT_TARGETS = [
    pytest.param("evidence_hit", ">=", 0.92, id="evidence", marks=_xfail(0.758)),
    pytest.param("disputed_source_coverage", ">=", 0.85, id="disputed", marks=_xfail(0.731)),
    pytest.param("no_answer_true_rate", ">=", 0.85, id="unanswerable-declined", marks=_xfail(0.667)),
    pytest.param("no_answer_false_rate", "<=", 0.05, id="answerable-declined", marks=_xfail(0.182)),
]


def _meets(summary: dict[str, float | int], metric: str, op: str, target: float) -> bool:
    value = float(summary[metric])
    return value >= target if op == ">=" else value <= target


@pytest.mark.parametrize(("metric", "op", "target"), BENCHMARK_TARGETS)
def test_reader_targets_on_the_benchmark_set(
    overall: dict[str, float | int], metric: str, op: str, target: float
) -> None:
    assert _meets(overall, metric, op, target), f"{metric} {overall[metric]} (target {op} {target})"


@pytest.mark.parametrize(("metric", "op", "target"), HELD_OUT_TARGETS)
def test_reader_targets_on_the_held_out_set(
    held_out: dict[str, float | int], metric: str, op: str, target: float
) -> None:
    assert _meets(held_out, metric, op, target), f"{metric} {held_out[metric]} (target {op} {target})"


@pytest.fixture(scope="module")
def definitions(pipeline: Pipeline) -> dict[str, dict[str, float | int]]:
    """The questions that only ask what or who something is, the same in other words, and their subjects alone."""
    summaries = {}
    for name, path in (("definitions", DEFINITIONS), ("phrasings", PHRASINGS), ("terms", TERMS)):
        outcomes = _run(pipeline, path)
        assert [u for o in outcomes for u in o.unlocated] == []
        summaries[name] = summarize(outcomes)
        print(f"\n {name}:", summaries[name])
    return summaries


# The same targets on the sets of definitional questions, in English and Chinese, which judged the rule that answers
# them when the first sentence names their subject (README, "Definitional questions"), and on their subjects typed
# alone ("terms").
DEFINITION_TARGETS = [
    pytest.param(name, metric, op, target, id=f"{name}-{label}", marks=marks)
    for name in ("definitions", "phrasings", "terms")
    for metric, op, target, label, marks in (
        ("evidence_hit", ">=", 0.92, "evidence", ()),
        (
            "no_answer_true_rate",
            ">=",
            0.85,
            "unanswerable-declined",
            _xfail(0.800) if name in ("definitions", "terms") else (),
        ),
        ("no_answer_false_rate", "<=", 0.05, "answerable-declined", ()),
        ("citation_integrity", ">=", 1.0, "citations", ()),
    )
]


@pytest.mark.parametrize(("name", "metric", "op", "target"), DEFINITION_TARGETS)
def test_reader_targets_on_the_definitional_questions(
    definitions: dict[str, dict[str, float | int]], name: str, metric: str, op: str, target: float
) -> None:
    summary = definitions[name]
    assert _meets(summary, metric, op, target), f"{name}: {metric} {summary[metric]} (target {op} {target})"


def test_the_held_out_set_is_quoted_and_cited_exactly(pipeline: Pipeline) -> None:
    """The held-out set checks the tuning (its figures are in the README and `rag eval --questions`);
    what must hold on it as on any set: its quotes are located and every citation is exact."""
    held_out = _run(pipeline, HELDOUT)
    print("\n held-out:", summarize(held_out))
    assert [u for o in held_out for u in o.unlocated] == []
    assert summarize(held_out)["citation_integrity"] == 1.0


def test_a_dressed_question_is_answered_as_the_plain_one(pipeline: Pipeline, outcomes: list[Outcome]) -> None:
    """The benchmark set's questions as people dress them ("Hi, …", "… Thanks!", "…?!", emoji, quotation marks): the
    same grade and evidence as the plain question. Before what is typed around a question was taken off, 9 of the 96
    moved across the coverage threshold, either way (docs/tuning.md, "Dressed questions")."""
    plain = {o.question.id[1:]: (o.grade, o.evidence_hit, o.sources_shown) for o in outcomes}
    dressed = {o.question.id[2:]: (o.grade, o.evidence_hit, o.sources_shown) for o in _run(pipeline, DRESSED)}
    assert {i: (plain[i], d) for i, d in dressed.items() if d != plain[i]} == {}


def test_questions_in_traditional_characters_are_answered_over_simplified_documents(pipeline: Pipeline) -> None:
    """The benchmark set's Chinese questions in traditional script: the reader issue's target for answerable questions
    declined holds on them (0.194 before the dense model and the verifier read them in simplified script, 0.032
    after: docs/tuning.md), and every citation is exact."""
    traditional = summarize(_run(pipeline, TRADITIONAL))
    print("\n traditional:", traditional)
    assert traditional["no_answer_false_rate"] <= 0.05
    assert traditional["citation_integrity"] == 1.0


def test_questions_off_the_corpus_subject_are_declined(pipeline: Pipeline) -> None:
    """36 questions about anything but the corpus's subject (the weather, recipes, other products), which no
    fit of the coverage model has seen: the unanswerable target of the reader issue holds on them too."""
    off_topic = summarize(_run(pipeline, OFF_TOPIC))
    print("\n off-topic:", off_topic)
    assert off_topic["unanswerable"] == 36 and off_topic["no_answer_true_rate"] >= 0.85
    assert off_topic["citation_integrity"] == 1.0


QUALITY_FIGURES = [
    "hit@1",
    "hit@5",
    "mrr@10",
    "ndcg@10",
    "evidence_hit",
    "disputed_source_coverage",
    "no_answer_true_rate",
    "no_answer_false_rate",
    "citation_integrity",
]


@pytest.mark.parametrize("qdrant_url", [None, ":memory:"], ids=["qdrant-embedded", "qdrant-client-adapter"])
def test_the_qdrant_store_gives_the_local_figures(
    pipeline: Pipeline, overall: dict[str, float | int], tmp_path: Path, qdrant_url: str | None
) -> None:
    """The scale-out issue's bar: RAG_STORE=qdrant within 0.01 of the local store on every figure. The
    Qdrant index takes the local one's vectors (no second embedding of the corpus)."""
    settings = replace(
        pipeline.settings, store="qdrant", index_dir=tmp_path, qdrant_url=qdrant_url, qdrant_prefix="benchmark"
    )
    build_index(settings, pipeline.embedder, open_backend(settings), [settings.seeds_dir], reuse_from=pipeline.store)
    qdrant = Pipeline.from_settings(settings, pipeline.embedder)
    figures = summarize(_run(qdrant, QUESTIONS))
    print("\n qdrant:", figures)
    for name in QUALITY_FIGURES:
        assert float(figures[name]) == pytest.approx(float(overall[name]), abs=0.01), name
