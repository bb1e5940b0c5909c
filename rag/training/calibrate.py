"""The reader's dev set, its figures on it, and the calibration and "not covered" threshold chosen from them.

Training (``rag.training.train``) measures every epoch here and calibrates the chosen one;
``python -m rag.training.train --calibrate-only`` measures and calibrates a shipped reader again.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.coverage import DOUBTFUL_SHOWN_COST, HIDDEN_ANSWER_COST, choose_uncertain
from rag.evaluation.metrics import char_f1
from rag.training.pairs import (
    Located,
    candidate,
    lexical_neighbours,
    locate_questions,
    paragraph_sentences,
    restatement,
)
from rag.training.squad import Article
from rag.types import Candidate

# Choosing the "not covered" threshold: hiding a right answer is counted as costing twice as much as
# showing evidence for a question the documents do not answer, which is still shown as uncertain
# evidence a person can judge. The threshold minimises this cost on the dev set.
FALSE_DECLINE_COST = 2.0
FALSE_ANSWER_COST = 1.0

# A reader as the dev figures see it: a question and its candidates -> the uncalibrated relevance logits
# and each candidate's best answer span, untrimmed (rag.rankers.readernet.logits_and_spans, or the ONNX
# reader's OnnxReader.logits_and_spans).
Scorer = Callable[[str, Sequence[Candidate]], tuple[np.ndarray, list[tuple[int, int] | None]]]


@dataclass(frozen=True)
class DevQuestion:
    question: str
    passages: tuple[Candidate, ...]  # the question's own paragraph's sentences first
    positive: int  # index of the sentence that holds the answer
    answer: tuple[int, int] | None
    answer_text: str
    outside: int  # passages[-outside:] come from other articles: the "not indexed" candidates


@dataclass(frozen=True)
class DevSet:
    name: str
    questions: tuple[DevQuestion, ...]


def dev_set(
    name: str,
    contexts: list[Article],
    texts: dict[str, str] | None,
    limit: int,
    rng: random.Random,
    restating: bool = False,
) -> DevSet:
    """Each question with the sentences of its paragraph, its article's and other articles' sentences
    that share most words with it (and, with ``restating``, itself as a heading): the kind of candidates
    retrieval hands the reader."""
    sentences = paragraph_sentences(contexts)
    located = locate_questions(contexts, sentences, texts)
    located = rng.sample(located, min(limit, len(located)))
    pool = [
        (ai, pi, si, s.text)
        for ai, para_list in enumerate(sentences)
        for pi, para in enumerate(para_list)
        for si, s in enumerate(para)
    ]
    questions = []
    for q in located:
        own = [(q.article, q.paragraph, i) for i in range(len(sentences[q.article][q.paragraph]))]
        same = [r for r in pool if r[0] == q.article and r[1] != q.paragraph]
        other = [r for r in pool if r[0] != q.article]
        near = lexical_neighbours(q.native_question, same, 4)
        outside = lexical_neighbours(q.native_question, other, 8)
        passages = tuple(candidate(contexts[a].title, sentences[a][p], s) for a, p, s in own + near)
        if restating:
            passages += (restatement(contexts[q.article].title, q),)  # a heading that asks the question
        passages += tuple(candidate(contexts[a].title, sentences[a][p], s) for a, p, s in outside)
        answer_text = _answer_text(contexts, q)
        questions.append(DevQuestion(q.question, passages, q.sentence, q.answer, answer_text, len(outside)))
    return DevSet(name, tuple(questions))


def _answer_text(contexts: list[Article], q: Located) -> str:
    para = contexts[q.article].paragraphs[q.paragraph]
    sentences = paragraph_sentences([contexts[q.article]])[0][q.paragraph]
    s = sentences[q.sentence]
    return para.context[s.start : s.end][q.answer[0] : q.answer[1]] if q.answer else ""


def evaluate(score: Scorer, dev: DevSet) -> dict[str, Any]:
    top1, f1s, own_best, outside_best, near_miss, pos, neg = [], [], [], [], [], [], []
    for q in dev.questions:
        logits, spans = score(q.question, q.passages)
        best = int(np.argmax(logits))
        top1.append(best == q.positive)
        span = spans[q.positive]
        predicted = q.passages[q.positive].sentence[span[0] : span[1]] if span else ""
        if q.answer_text:
            f1s.append(char_f1(predicted, q.answer_text))
        own_best.append(float(logits.max()))
        outside_best.append(float(logits[-q.outside :].max()))
        # The index without the answer's sentence: its paragraph's other sentences are near misses
        # (the sentence after it is left out too, since it is read with the answer as its context).
        rest = [x for i, x in enumerate(logits) if i not in (q.positive, q.positive + 1)]
        near_miss.append(float(max(rest)))
        pos.append(float(logits[q.positive]))
        neg += [float(x) for i, x in enumerate(logits) if i != q.positive]
    return {
        "name": dev.name,
        "questions": len(dev.questions),
        "top1": float(np.mean(top1)),
        "auc": auc(np.array(pos), np.array(neg)),
        "answer_f1": float(np.mean(f1s)) if f1s else 0.0,
        "covered_logits": own_best,
        "not_indexed_logits": outside_best,
        "near_miss_logits": near_miss,
        "pos": pos,
        "neg": neg,
    }


def measure(score: Scorer, dev: Sequence[DevSet], prefix: str) -> list[dict[str, Any]]:
    """The figures on every dev set, printed on one line after ``prefix``."""
    figures = [evaluate(score, d) for d in dev]
    print(f"{prefix}: " + "; ".join(_line(f) for f in figures), flush=True)
    return figures


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    if not len(pos) or not len(neg):
        return float("nan")
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def calibrate(pos: Sequence[float], neg: Sequence[float]) -> tuple[float, float]:
    """Platt scaling of the relevance logit (temperature and shift), by logistic regression."""
    x = np.array([*pos, *neg])
    y = np.array([1.0] * len(pos) + [0.0] * len(neg))
    w = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    a, b = 1.0, 0.0
    for _ in range(2000):
        p = 1 / (1 + np.exp(-(a * x + b)))
        err = (p - y) * w
        a -= 0.05 * float((err * x).mean())
        b -= 0.05 * float(err.mean())
    return 1.0 / a, b


def choose_threshold(covered: Sequence[float], not_covered: Sequence[float]) -> float:
    """The probability threshold that minimises the stated cost over the dev questions."""
    cov, unc = np.array(covered), np.array(not_covered)
    best_t, best_cost = 0.5, math.inf
    for t in np.linspace(0.01, 0.99, 99):
        cost = FALSE_DECLINE_COST * (cov < t).mean() + FALSE_ANSWER_COST * (unc >= t).mean()
        if cost < best_cost - 1e-12:
            best_t, best_cost = float(t), float(cost)
    return best_t


def _probabilities(figures: Sequence[dict[str, Any]], key: str, temperature: float, shift: float) -> list[float]:
    """Platt-scaled probabilities of the logits under ``key`` of every dev set."""
    return [1 / (1 + math.exp(-(x / temperature + shift))) for f in figures for x in f[key]]


def calibration(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """Platt scaling over every dev pair, then the threshold that minimises the stated cost, with the
    questions whose article is not indexed and those whose answer sentence is not as the negatives."""
    temperature, shift = calibrate([x for f in figures for x in f["pos"]], [x for f in figures for x in f["neg"]])
    covered, not_indexed, near_miss = (
        _probabilities(figures, key, temperature, shift)
        for key in ("covered_logits", "not_indexed_logits", "near_miss_logits")
    )
    threshold = choose_threshold(covered, not_indexed + near_miss)
    # Below the threshold, evidence is shown as "may not answer" down to where hiding it costs more (the
    # stated cost of rag.coverage, shared with the coverage model's uncertain band).
    grid = np.round(np.linspace(0.01, 0.99, 99), 2)
    uncertain, _ = choose_uncertain(covered, not_indexed + near_miss, threshold, grid)
    rates = decision_rates(figures, temperature, shift, threshold, uncertain)
    return {
        "cost": {
            "false_decline": FALSE_DECLINE_COST,
            "false_answer": FALSE_ANSWER_COST,
            "hidden_answer": HIDDEN_ANSWER_COST,
            "doubtful_shown": DOUBTFUL_SHOWN_COST,
        },
        "calibration": {"temperature": temperature, "shift": shift, "threshold": threshold, "uncertain": uncertain},
        "dev": {f["name"]: public(f) for f in figures},
        "dev_decisions": {k: round(v, 4) for k, v in rates.items()},
    }


def decision_rates(
    figures: Sequence[dict[str, Any]], temperature: float, shift: float, threshold: float, uncertain: float
) -> dict[str, float]:
    """How often the dev questions are declined, or not covered, at a given calibration: answerable ones,
    those whose article is not indexed and those whose answer sentence is not (the near misses)."""
    covered, not_indexed, near_miss = (
        np.array(_probabilities(figures, key, temperature, shift))
        for key in ("covered_logits", "not_indexed_logits", "near_miss_logits")
    )
    unanswerable = np.concatenate([not_indexed, near_miss])
    return {
        "answerable_declined": float((covered < threshold).mean()),
        "unanswerable_declined": float((unanswerable < threshold).mean()),
        "not_indexed_declined": float((not_indexed < threshold).mean()),
        "near_miss_declined": float((near_miss < threshold).mean()),
        "answerable_not_covered": float((covered < uncertain).mean()),
        "not_indexed_not_covered": float((not_indexed < uncertain).mean()),
    }


def decisions(manifest: dict[str, Any]) -> str:
    rates = manifest["dev_decisions"]
    return (
        f"threshold {manifest['calibration']['threshold']:.2f}: dev answerable declined "
        f"{rates['answerable_declined']:.3f}, not-indexed declined {rates['not_indexed_declined']:.3f}, "
        f"near misses declined {rates['near_miss_declined']:.3f}; uncertain from "
        f"{manifest['calibration'].get('uncertain', float('nan')):.2f}: answerable not covered "
        f"{rates.get('answerable_not_covered', float('nan')):.3f}, not-indexed not covered "
        f"{rates.get('not_indexed_not_covered', float('nan')):.3f}"
    )


def public(f: dict[str, Any]) -> dict[str, Any]:
    """The figures that go into the manifest: the summaries, not the per-question logits."""
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in f.items() if not isinstance(v, list)}


def _line(f: dict[str, Any]) -> str:
    return f"{f['name']} top-1 {f['top1']:.3f} AUC {f['auc']:.3f} answer F1 {f['answer_f1']:.3f}"
