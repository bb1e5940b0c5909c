from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.errors import BadQueryError
from rag.evaluation.metrics import (
    Gold,
    Question,
    evaluate_one,
    hit_at,
    load_questions,
    locate,
    ndcg,
    reciprocal_rank,
    reliability,
    summarize,
)
from rag.evaluation.report import render_sets, set_names
from rag.types import Answer, Chunk, Citation, Document, Evidence, Hit

TEXT = "第一段说成本。\n\n训练只花了 600 万美元。\n\n英伟达股价下跌了。"
DOC = Document("d", "d.txt", "T", None, None, None, "zh", TEXT)
OTHER = Document("e", "e.txt", "U", None, None, None, "zh", "另一个来源认为成本更高。")


def _chunk(doc: Document, start: int, end: int, i: int) -> Chunk:
    return Chunk(f"{doc.doc_id}#{i}", doc.doc_id, i, start, end, doc.text[start:end], ())


def _answer(hits: list[Chunk], evidence: list[tuple[Document, int, int]], answerable: bool = True) -> Answer:
    ev = tuple(
        Evidence(d.text[a:b], 0.9, Citation(d.doc_id, d.source_file, d.title, None, None, "x", a, b))
        for d, a, b in evidence
    )
    return Answer("q", answerable, "", ev, tuple(Hit(c, 1.0 / r, r) for r, c in enumerate(hits, start=1)))


def test_locate_ignores_whitespace_differences() -> None:
    assert locate("600 万美元", TEXT) == (TEXT.index("600"), TEXT.index("600") + 7)
    start, end = locate("成本。训练只花了", TEXT) or (0, 0)
    assert TEXT[start:end] == "成本。\n\n训练只花了"
    assert locate("不存在", TEXT) is None


def test_rank_metrics() -> None:
    assert hit_at([3], 1) == 0.0 and hit_at([3], 5) == 1.0
    assert reciprocal_rank([2, 4]) == 0.5 and reciprocal_rank([11]) == 0.0
    assert ndcg([1], 1) == pytest.approx(1.0)
    assert ndcg([2], 1) == pytest.approx(1 / 1.5849625)


def test_a_passage_counts_when_it_overlaps_a_gold_quote() -> None:
    q = Question("q1", "成本?", "zh", "number", True, (Gold("d.txt", "600 万美元"),))
    s = TEXT.index("训练")
    miss, hit = _chunk(DOC, 0, 7, 0), _chunk(DOC, s, s + 14, 1)
    outcome = evaluate_one(q, _answer([miss, hit], [(DOC, s, s + 14)]), {"d": DOC})
    assert outcome.ranks == [2] and outcome.evidence_hit and outcome.citations_ok == 1


def test_the_first_evidence_counts_apart_from_any_evidence() -> None:
    q = Question("q1", "成本?", "zh", "number", True, (Gold("d.txt", "600 万美元"),))
    s, miss = TEXT.index("训练"), TEXT.index("英伟达")
    gold_second = evaluate_one(q, _answer([], [(DOC, miss, miss + 9), (DOC, s, s + 14)]), {"d": DOC})
    gold_first = evaluate_one(q, _answer([], [(DOC, s, s + 14), (DOC, miss, miss + 9)]), {"d": DOC})
    assert gold_second.evidence_hit and not gold_second.first_evidence_hit
    assert gold_first.evidence_hit and gold_first.first_evidence_hit
    assert summarize([gold_second, gold_first])["first_evidence_hit"] == 0.5


def test_disputed_coverage_counts_sources_shown() -> None:
    q = Question("q2", "成本?", "zh", "disputed", True, (Gold("d.txt", "600 万美元"), Gold("e.txt", "成本更高")))
    s = TEXT.index("训练")
    outcome = evaluate_one(q, _answer([_chunk(DOC, s, s + 14, 1)], [(DOC, s, s + 14)]), {"d": DOC, "e": OTHER})
    assert (outcome.sources_shown, outcome.sources_total) == (1, 2)
    summary = summarize([outcome])
    assert summary["disputed_source_coverage"] == 0.5


def test_no_answer_rates() -> None:
    unanswerable = Question("q3", "天气?", "zh", "unanswerable", False, ())
    answerable = Question("q4", "成本?", "zh", "number", True, (Gold("d.txt", "600 万美元"),))
    outcomes = [
        evaluate_one(unanswerable, _answer([], [], answerable=False), {"d": DOC}),
        evaluate_one(answerable, _answer([], [], answerable=False), {"d": DOC}),
    ]
    summary = summarize(outcomes)
    assert summary["no_answer_true_rate"] == 1.0 and summary["no_answer_false_rate"] == 1.0


def test_a_wrong_citation_lowers_integrity() -> None:
    q = Question("q5", "x", "zh", "fact", True, (Gold("d.txt", "600 万美元"),))
    answer = _answer([], [(DOC, 0, 3)])
    broken = Answer(answer.question, True, "", (Evidence("not the text", 0.5, answer.evidence[0].citation),), ())
    assert summarize([evaluate_one(q, broken, {"d": DOC})])["citation_integrity"] == 0.0


def test_load_questions_reports_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    good = {"id": "a", "question": "x", "answerable": False}
    path.write_text(json.dumps(good) + "\n{not json}\n")
    with pytest.raises(BadQueryError, match=r"q.jsonl:2"):
        load_questions(path)


def test_sets_sharing_a_stem_get_a_row_each() -> None:
    overall = {"questions": 1, "answerable": 1, "evidence_hit": 1.0}
    report = {"model": "m", "top_k": 5, "variants": {"fused": {"overall": overall, "unlocated_quotes": []}}}
    paths = ["mine/english.jsonl", "benchmarks/english.jsonl", "benchmarks/names.jsonl"]
    assert set_names(paths) == {
        "mine/english.jsonl": "mine/english.jsonl",
        "benchmarks/english.jsonl": "benchmarks/english.jsonl",
        "benchmarks/names.jsonl": "names",
    }
    rows = [line.split()[0] for line in render_sets(dict.fromkeys(paths, report)).splitlines()[3:]]
    assert rows == ["mine/english.jsonl", "benchmarks/english.jsonl", "names"]


def test_reliability_bands_the_confidence_and_scores_it_against_what_the_documents_answer() -> None:
    judged = [(0.05, False), (0.1, True), (0.5, True), (0.95, True), (1.0, False), (0.2, False)]
    figures = reliability(judged)
    assert figures["confidence_brier"] == pytest.approx(
        (0.05**2 + 0.9**2 + 0.5**2 + 0.05**2 + 1.0 + 0.2**2) / 6, abs=1e-4
    )
    # 0.2 opens the second band; 1.0 closes the last.
    assert figures["confidence_bands"] == {
        "0.0-0.2": [2, 0.5],
        "0.2-0.4": [1, 0.0],
        "0.4-0.6": [1, 1.0],
        "0.8-1.0": [2, 0.5],
    }
    assert reliability([]) == {"confidence_brier": None, "confidence_bands": {}}
