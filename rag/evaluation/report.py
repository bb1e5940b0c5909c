"""The evaluation report: every variant over the question set, overall and broken down."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from functools import partial
from pathlib import Path
from typing import Any

from rag.evaluation.metrics import (
    GROUPED,
    HEADLINE,
    NO_ANSWER,
    VARIANTS,
    breakdown,
    format_table,
    load_questions,
    run,
    summarize,
)
from rag.pipeline import Pipeline
from rag.types import Answer

RETRIEVAL_DEPTH = 10


def evaluation_report(pipeline: Pipeline, questions_file: Path, top_k: int, ablation: bool) -> dict[str, Any]:
    questions = load_questions(questions_file)
    report: dict[str, Any] = {
        "questions_file": str(questions_file),
        "model": pipeline.model_name,
        "top_k": top_k,
        "variants": {},
    }
    for name, switches in VARIANTS.items():
        if name != "fused" and not ablation:
            continue
        variant = pipeline.variant(**switches)
        outcomes = run(questions, partial(_ask, variant, top_k=top_k), pipeline.store.documents.documents)
        entry: dict[str, Any] = {"overall": summarize(outcomes), **breakdown(outcomes)}
        if name == "fused":
            entry["per_question"] = [_question_row(o) for o in outcomes]
            unlocated = [u for o in outcomes for u in o.unlocated]
            entry["unlocated_quotes"] = unlocated
        report["variants"][name] = entry
    return report


def _ask(pipeline: Pipeline, question: str, top_k: int) -> Answer:
    return pipeline.ask(question, top_k, passages=RETRIEVAL_DEPTH)


def _question_row(o: Any) -> dict[str, Any]:
    return {
        "id": o.question.id,
        "question": o.question.question,
        "answerable": o.question.answerable,
        "predicted_answerable": o.answerable_predicted,
        "first_relevant_rank": min(o.ranks, default=None),
        "evidence_hit": o.evidence_hit,
        "first_evidence_hit": o.first_evidence_hit,
        "sources": f"{o.sources_shown}/{o.sources_total}",
        "grade": o.grade,
        "grouped_sources": f"{o.grouped_shown}/{o.sources_total}",
        "confidence": o.confidence,
    }


# One row per question set: what `make eval` prints (the fused variant, as served).
SET_COLUMNS = (
    "questions",
    "hit@5",
    "mrr@10",
    "evidence_hit",
    "first_evidence_hit",
    "no_answer_false_rate",
    "no_answer_true_rate",
    "disputed_source_coverage",
)


def render_sets(reports: dict[str, dict[str, Any]]) -> str:
    """One row per question set (named by its file's stem, or by its path where two sets share a stem) of the
    figures as served, then each set's gold quotes that are not found in the clean text."""
    names = set_names(reports)
    rows = {names[path]: report["variants"]["fused"]["overall"] for path, report in reports.items()}
    parts = [format_table(rows, SET_COLUMNS)]
    for path, report in reports.items():
        unlocated = report["variants"]["fused"]["unlocated_quotes"]
        if unlocated:
            parts += ["", f"{names[path]}: {len(unlocated)} gold quotes not found in the clean text:"]
            parts += [f"  {q}" for q in unlocated]
    first = next(iter(reports.values()))
    return "\n".join([f"model {first['model']}, top_k {first['top_k']}, fused (as served)", "", *parts])


def set_names(paths: Collection[str]) -> dict[str, str]:
    """Each question file's name in a table of sets: its stem ("english" for benchmarks/english.jsonl), or its whole
    path where another file has the same stem, so that no two sets share a row."""
    stems = Counter(Path(path).stem for path in paths)
    return {path: Path(path).stem if stems[Path(path).stem] == 1 else path for path in paths}


def render_report(report: dict[str, Any]) -> str:
    variants = report["variants"]
    overall = {name: v["overall"] for name, v in variants.items()}
    parts = [
        f"model {report['model']}, top_k {report['top_k']}, {report['questions_file']}",
        "",
        format_table(overall, HEADLINE),
        "",
        format_table(overall, NO_ANSWER),
        "",
        format_table(overall, GROUPED),
    ]
    fused = variants["fused"]
    for axis in ("lang", "type"):
        parts += [
            "",
            f"fused, by {axis}:",
            format_table(fused[axis], ("questions", *HEADLINE[:2], "mrr@10", "evidence_hit")),
        ]
    if fused["unlocated_quotes"]:
        parts += ["", f"{len(fused['unlocated_quotes'])} gold quotes not found in the clean text:"]
        parts += [f"  {q}" for q in fused["unlocated_quotes"]]
    return "\n".join(parts)
