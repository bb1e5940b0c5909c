"""Does the reader add anything to the sentence scorer? Both question sets, reader on its usual candidates
(`python -m bench.reader_blend [--candidates N]`).

Two questions, each answered on the seed corpus:

- Choosing the evidence: of the answerable questions whose gold sentence is among the reader's candidates,
  the share whose first candidate is gold when candidates are ordered by the scorer, by the reader, and by
  the scorer plus ``w`` times the reader's logit for a few ``w`` (``w`` = 0 is the scorer alone), and by the
  reader among the candidates that are not themselves questions ("w/o Qs": headings that restate it).
- Judging coverage: the AUC (answerable against unanswerable) of the reader's best probability alone, of
  the coverage model's retrieval signals, and of both together, the model refitted leaving each question
  out in turn (as ``bench/calibrate.py`` judges it).

Nothing here is fitted on one set and reported on another: a blend weight would have to be chosen on the
reader's dev articles. The table shows whether any weight at all helps on these sets, which bounds what
such a weight could do.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.config import Settings
from rag.coverage import leave_one_out
from rag.evaluation.metrics import SEED_SETS, Question, gold_spans, load_questions
from rag.extraction import is_question
from rag.pipeline import Pipeline
from rag.rankers.reader import ReaderRanker
from rag.training.calibrate import auc

WEIGHTS = (0.0, 0.01, 0.02, 0.05, 0.1)


@dataclass(frozen=True)
class Read:
    """One candidate sentence of one question: the scorer's score, the reader's logit, whether it is gold."""

    score: float
    logit: float
    gold: bool
    question_form: bool


@dataclass(frozen=True)
class Asked:
    question: Question
    signals: np.ndarray
    candidates: tuple[Read, ...]


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def ask_all(pipeline: Pipeline, ranker: ReaderRanker, questions: Sequence[Question]) -> list[Asked]:
    by_file = {d.source_file: d for d in pipeline.store.documents.documents.values()}
    asked = []
    for q in questions:
        spans, _ = gold_spans(q, by_file)
        query, scored, signals = pipeline.scored(q.question)
        reads = tuple(
            Read(
                r.scored.score,
                logit(r.probability),
                any(s.overlaps(r.doc_id, r.scored.sentence.start, r.scored.sentence.end) for s in spans),
                is_question(r.scored.sentence.text),
            )
            for r in ranker.rank(query, scored)
        )
        asked.append(Asked(q, signals.vector(), reads))
    return asked


def first_is_gold(asked: Sequence[Asked], w: float | None, questions_too: bool = True) -> float:
    """Share of answerable questions with a gold candidate whose best candidate is gold; ``w`` None: the
    reader alone, else the score plus ``w`` times the reader's logit."""
    hits = []
    for a in asked:
        reads = [r for r in a.candidates if questions_too or not r.question_form]
        if not a.question.answerable or not any(r.gold for r in reads):
            continue
        best = max(reads, key=lambda r: r.logit if w is None else r.score + w * r.logit)
        hits.append(best.gold)
    return float(np.mean(hits)) if hits else float("nan")


def coverage_aucs(asked: Sequence[Asked]) -> dict[str, float]:
    y = np.array([1.0 if a.question.answerable else 0.0 for a in asked])
    reader = np.array([max((r.logit for r in a.candidates), default=-30.0) for a in asked])
    retrieval = np.array([a.signals for a in asked])
    both = np.column_stack([retrieval, reader])

    def of(s: np.ndarray) -> float:
        return auc(s[y == 1], s[y == 0])

    return {
        "reader's best": of(reader),
        "retrieval signals (LOO)": of(leave_one_out(retrieval, y)),
        "both (LOO)": of(leave_one_out(both, y)),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--candidates", type=int, default=None, help="sentences read (default RAG_READER_CANDIDATES)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.candidates:
        settings = dataclasses.replace(settings, reader_candidates=args.candidates)
    pipeline = Pipeline.from_settings(dataclasses.replace(settings, reader=True))
    ranker = pipeline.ranker
    if not isinstance(ranker, ReaderRanker):
        raise SystemExit("no reader to measure (rag/models/reader.safetensors missing?)")
    asked = {path.stem: ask_all(pipeline, ranker, load_questions(path)) for path in SEED_SETS}
    asked["both"] = [a for rows in list(asked.values()) for a in rows]

    print(f"first candidate is gold ({ranker.candidates} candidates; answerable questions with a gold candidate)")
    columns = ["scorer", "reader", *(f"+{w:g}·logit" for w in WEIGHTS[1:]), "reader w/o Qs"]
    print(f"{'set':<12}" + "".join(f"{c:>14}" for c in columns))
    for name, rows in asked.items():
        cells = [first_is_gold(rows, 0.0), first_is_gold(rows, None)]
        cells += [first_is_gold(rows, w) for w in WEIGHTS[1:]]
        cells.append(first_is_gold(rows, None, questions_too=False))
        print(f"{name:<12}" + "".join(f"{c:>14.3f}" for c in cells))
    firsts = [max(a.candidates, key=lambda r: r.logit) for a in asked["both"] if a.question.answerable and a.candidates]
    print(f"the reader's first choice is a question for {np.mean([r.question_form for r in firsts]):.3f} of them")

    print("\ncoverage AUC, answerable against unanswerable")
    aucs = {name: coverage_aucs(rows) for name, rows in asked.items()}
    columns = list(next(iter(aucs.values())))
    print(f"{'set':<12}" + "".join(f"{c:>26}" for c in columns))
    for name, row in aucs.items():
        print(f"{name:<12}" + "".join(f"{row[c]:>26.3f}" for c in columns))


if __name__ == "__main__":
    main()
