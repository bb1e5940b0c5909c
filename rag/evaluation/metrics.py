"""Retrieval and answer metrics over a labelled question set.

A passage is relevant when it overlaps the span of a gold quote in the clean document text.
Quotes are copied from the raw files, so they are located in the clean text after whitespace
normalisation (cleaning may re-flow lines).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import BadQueryError
from rag.extraction import is_question
from rag.types import GRADES, Answer, Document, Grade

QUESTION_TYPES = ("fact", "number", "name", "date", "opinion", "disputed", "keyword", "misspelt", "unanswerable")
LANGUAGES = ("en", "zh", "mixed")
# The seed corpus's labelled sets (from the project root): the benchmark set and the held-out set.
SEED_SETS = (Path("benchmarks/questions.jsonl"), Path("benchmarks/heldout.jsonl"))


@dataclass(frozen=True)
class Gold:
    file: str
    quote: str


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    lang: str
    type: str
    answerable: bool
    evidence: tuple[Gold, ...]


@dataclass(frozen=True)
class Span:
    doc_id: str
    start: int
    end: int

    def overlaps(self, doc_id: str, start: int, end: int) -> bool:
        return self.doc_id == doc_id and start < self.end and self.start < end


@dataclass
class Outcome:
    """What one question scored; the averages are taken over these."""

    question: Question
    answerable_predicted: bool
    ranks: list[int]  # 1-based ranks of relevant passages
    relevant_total: int
    spans_found: int
    spans_total: int
    evidence_hit: bool
    sources_shown: int
    sources_total: int
    citations_ok: int
    citations_total: int
    unlocated: list[str] = field(default_factory=list)
    grade: Grade = "not_covered"
    grouped_shown: int = 0  # gold documents among the answer's sources (the grouped view)
    question_only_cards: int = 0  # sources whose every quote is itself a question
    first_evidence_hit: bool = False  # the first sentence quoted (the one read first) overlaps a gold quote
    confidence: float | None = None  # the answer's (null with RAG_CONFIDENCE=off)


def load_questions(path: Path) -> list[Question]:
    questions = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            evidence = tuple(Gold(e["file"], e["quote"]) for e in raw.get("evidence", []))
            questions.append(
                Question(
                    raw["id"],
                    raw["question"],
                    raw.get("lang", "en"),
                    raw.get("type", "fact"),
                    bool(raw.get("answerable", True)),
                    evidence,
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BadQueryError(f"{path}:{n}: not a valid question line ({exc})") from exc
    return questions


def locate(quote: str, text: str) -> tuple[int, int] | None:
    """Where ``quote`` lies in ``text``, ignoring differences in whitespace."""
    exact = text.find(quote)
    if exact >= 0:
        return exact, exact + len(quote)
    positions = [i for i, ch in enumerate(text) if not ch.isspace()]
    squashed = "".join(text[i] for i in positions)
    needle = "".join(quote.split())
    at = squashed.find(needle) if needle else -1
    if at < 0:
        return None
    return positions[at], positions[at + len(needle) - 1] + 1


def gold_spans(question: Question, by_file: dict[str, Document]) -> tuple[list[Span], list[str]]:
    spans, missing = [], []
    for gold in question.evidence:
        doc = by_file.get(gold.file)
        where = locate(gold.quote, doc.text) if doc else None
        if doc is None or where is None:
            missing.append(f"{gold.file}: {gold.quote}")
            continue
        spans.append(Span(doc.doc_id, *where))
    return spans, missing


def evaluate_one(question: Question, answer: Answer, documents: Mapping[str, Document], k: int = 10) -> Outcome:
    by_file = {d.source_file: d for d in documents.values()}
    spans, missing = gold_spans(question, by_file)
    hits = answer.hits[:k]
    ranks = [h.rank for h in hits if any(s.overlaps(h.chunk.doc_id, h.chunk.start, h.chunk.end) for s in spans)]
    relevant_total = len(
        {h.chunk.chunk_id for h in answer.hits if _relevant(h.chunk.doc_id, h.chunk.start, h.chunk.end, spans)}
    )
    found = sum(any(s.overlaps(h.chunk.doc_id, h.chunk.start, h.chunk.end) for h in hits[:5]) for s in spans)
    cited = [(e.citation.doc_id, e.citation.start, e.citation.end) for e in answer.evidence]
    gold_docs = {s.doc_id for s in spans}
    shown = {doc for doc, _, _ in cited} & gold_docs
    quoted = [q.evidence for source in answer.sources for q in source.quotes]
    contexts = [(s.document, c) for s in answer.sources for q in s.quotes for c in (q.before, q.after) if c]
    ok = sum(documents[e.citation.doc_id].text[e.citation.start : e.citation.end] == e.text for e in answer.evidence)
    ok += sum(documents[e.citation.doc_id].text[e.citation.start : e.citation.end] == e.text for e in quoted)
    ok += sum(documents[doc.doc_id].text[c.start : c.end] == c.text for doc, c in contexts)
    return Outcome(
        question=question,
        answerable_predicted=answer.answerable,
        ranks=ranks,
        relevant_total=max(relevant_total, len(ranks)),
        spans_found=found,
        spans_total=len(spans),
        evidence_hit=any(_relevant(doc, a, b, spans) for doc, a, b in cited),
        sources_shown=len(shown),
        sources_total=len(gold_docs),
        citations_ok=ok,
        citations_total=len(answer.evidence) + len(quoted) + len(contexts),
        unlocated=missing,
        grade=answer.grade,
        grouped_shown=len({source.document.doc_id for source in answer.sources} & gold_docs),
        question_only_cards=sum(all(is_question(q.evidence.text) for q in source.quotes) for source in answer.sources),
        first_evidence_hit=bool(cited) and _relevant(*cited[0], spans),
        confidence=answer.confidence,
    )


CONFIDENCE_BANDS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def reliability(judged: Sequence[tuple[float, bool]]) -> dict[str, Any]:
    """How far ``confidence`` can be read as a probability, over (confidence, the documents do answer) pairs: the
    Brier score, and per band of confidence its questions and the share of them the documents answer."""
    if not judged:
        return {"confidence_brier": None, "confidence_bands": {}}
    bands: dict[str, list[bool]] = {}
    for confidence, answers in judged:
        i = min(sum(confidence >= edge for edge in CONFIDENCE_BANDS[1:]), len(CONFIDENCE_BANDS) - 2)
        bands.setdefault(f"{CONFIDENCE_BANDS[i]:.1f}-{CONFIDENCE_BANDS[i + 1]:.1f}", []).append(answers)
    return {
        "confidence_brier": round(sum((c - a) ** 2 for c, a in judged) / len(judged), 4),
        "confidence_bands": {
            band: [len(shares), round(sum(shares) / len(shares), 4)] for band, shares in sorted(bands.items())
        },
    }


def _relevant(doc_id: str, start: int, end: int, spans: Sequence[Span]) -> bool:
    return any(s.overlaps(doc_id, start, end) for s in spans)


def char_f1(predicted: str, gold: str) -> float:
    """SQuAD-style F1 over characters (for Chinese) with whitespace and punctuation ignored."""
    p = [c for c in predicted.lower() if c.isalnum()]
    g = [c for c in gold.lower() if c.isalnum()]
    common = sum(min(p.count(c), g.count(c)) for c in set(p))
    if not p or not g or common == 0:
        return float(p == g)
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def hit_at(ranks: Sequence[int], k: int) -> float:
    return float(any(r <= k for r in ranks))


def reciprocal_rank(ranks: Sequence[int], k: int = 10) -> float:
    first = min((r for r in ranks if r <= k), default=None)
    return 1.0 / first if first else 0.0


def ndcg(ranks: Sequence[int], relevant_total: int, k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(r + 1) for r in ranks if r <= k)
    ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(relevant_total, k) + 1))
    return dcg / ideal if ideal else 0.0


def summarize(outcomes: Sequence[Outcome]) -> dict[str, float | int]:
    answerable = [o for o in outcomes if o.question.answerable]
    unanswerable = [o for o in outcomes if not o.question.answerable]
    disputed = [o for o in answerable if o.question.type == "disputed"]
    cit_total = sum(o.citations_total for o in outcomes)
    out: dict[str, float | int] = {"questions": len(outcomes), "answerable": len(answerable)}
    if answerable:
        out |= {
            "hit@1": _mean(hit_at(o.ranks, 1) for o in answerable),
            "hit@5": _mean(hit_at(o.ranks, 5) for o in answerable),
            "recall@5": _ratio(sum(o.spans_found for o in answerable), sum(o.spans_total for o in answerable)),
            "mrr@10": _mean(reciprocal_rank(o.ranks) for o in answerable),
            "ndcg@10": _mean(ndcg(o.ranks, o.relevant_total) for o in answerable),
            "evidence_hit": _mean(float(o.evidence_hit) for o in answerable),
            "first_evidence_hit": _mean(float(o.first_evidence_hit) for o in answerable),
            "no_answer_false_rate": _mean(float(not o.answerable_predicted) for o in answerable),
        }
        out |= {f"answerable_{g}": _mean(float(o.grade == g) for o in answerable) for g in GRADES}
        # The grades' promise: an answer whose gold passage retrieval ranked in the top 5 is never hidden.
        out["not_covered_with_gold_in_top5"] = sum(o.grade == "not_covered" and hit_at(o.ranks, 5) for o in answerable)
    if disputed:
        out["disputed_source_coverage"] = _ratio(
            sum(o.sources_shown for o in disputed), sum(o.sources_total for o in disputed)
        )
        out["disputed_grouped_coverage"] = _ratio(
            sum(o.grouped_shown for o in disputed), sum(o.sources_total for o in disputed)
        )
    out["question_only_cards"] = sum(o.question_only_cards for o in outcomes)
    if unanswerable:
        out["unanswerable"] = len(unanswerable)
        out["no_answer_true_rate"] = _mean(float(not o.answerable_predicted) for o in unanswerable)
        out["unanswerable_not_covered"] = _mean(float(o.grade == "not_covered") for o in unanswerable)
    out["citation_integrity"] = _ratio(sum(o.citations_ok for o in outcomes), cit_total) if cit_total else 1.0
    return out


def breakdown(outcomes: Sequence[Outcome]) -> dict[str, dict[str, dict[str, float | int]]]:
    groups: dict[str, dict[str, list[Outcome]]] = {"lang": defaultdict(list), "type": defaultdict(list)}
    for o in outcomes:
        groups["lang"][o.question.lang].append(o)
        groups["type"][o.question.type].append(o)
    return {axis: {key: summarize(items) for key, items in sorted(g.items())} for axis, g in groups.items()}


def _mean(values: Any) -> float:
    items = list(values)
    return round(sum(items) / len(items), 4) if items else 0.0


def _ratio(a: float, b: float) -> float:
    return round(a / b, 4) if b else 0.0


Asker = Callable[[str], Answer]


def run(questions: Sequence[Question], ask: Asker, documents: Mapping[str, Document]) -> list[Outcome]:
    """``ask`` must return at least 10 passages: the retrieval metrics look that deep."""
    return [evaluate_one(q, ask(q.question), documents) for q in questions]


VARIANTS = {
    "fused": {"dense": True, "keyword": True, "diversify": True},
    "reader off": {"dense": True, "keyword": True, "diversify": True, "reader": False},
    "verifier off": {"dense": True, "keyword": True, "diversify": True, "verifier": False},
    "definitions off": {"dense": True, "keyword": True, "diversify": True, "definitions": False},
    "dense only": {"dense": True, "keyword": False, "diversify": True},
    "keyword only": {"dense": False, "keyword": True, "diversify": True},
    "fused, no diversification": {"dense": True, "keyword": True, "diversify": False},
}
HEADLINE = ("hit@1", "hit@5", "recall@5", "mrr@10", "ndcg@10", "evidence_hit", "disputed_source_coverage")
NO_ANSWER = ("no_answer_true_rate", "no_answer_false_rate", "citation_integrity")
# The grouped view: grades of answerable questions, sources of disputed ones, hidden answers, lone questions.
GROUPED = (
    "answerable_answered",
    "answerable_uncertain",
    "answerable_not_covered",
    "unanswerable_not_covered",
    "disputed_grouped_coverage",
    "not_covered_with_gold_in_top5",
    "question_only_cards",
)


def format_table(rows: dict[str, dict[str, float | int]], columns: Sequence[str]) -> str:
    width = max(len(name) for name in rows) + 2
    widths = [max(len(c), 6) + 2 for c in columns]
    lines = ["".ljust(width) + "".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    for name, metrics in rows.items():
        cells = "".join(_cell(metrics.get(c)).rjust(w) for c, w in zip(columns, widths, strict=True))
        lines.append(name.ljust(width) + cells)
    return "\n".join(lines)


def _cell(value: float | int | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
