"""Refit the coverage model (rag/calibration.json) on the labelled question sets.

    python bench/calibrate.py [--questions FILE ...] [--write]

With RAG_VERIFIER=on it fits the model that reads the verifier's signal too (rag/calibration-verified.json).

The shipped model is fitted on every set given (by default the benchmark set and the held-out set).
What it is judged by comes first, on questions each fit has not seen: each set judged by a model
fitted on the other ones alone, then leave-one-out over all of them.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.coverage import (
    CALIBRATION,
    CROSSLINGUAL_QUESTION,
    DOUBTFUL_SHOWN_COST,
    FEATURES,
    HIDDEN_ANSWER_COST,
    NEUTRAL,
    VERIFIED,
    VERIFIED_CALIBRATION,
    CoverageModel,
    Signals,
    choose_crosslingual_threshold,
    choose_uncertain,
    fit,
    leave_one_out,
)
from rag.embedding import load_embedder
from rag.evaluation.metrics import load_questions
from rag.pipeline import Pipeline
from rag.rankers.reader import verifier_for
from rag.stores import open_backend

ROOT = Path(__file__).resolve().parent.parent
SETS = [ROOT / "benchmarks" / "questions.jsonl", ROOT / "benchmarks" / "heldout.jsonl"]


def rates(predicted: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(share of unanswerable judged not covered, share of answerable judged not covered)."""
    return float(np.mean(~predicted[labels == 0])), float(np.mean(~predicted[labels == 1]))


def judged(model: CoverageModel, x: np.ndarray) -> np.ndarray:
    """Whether each row of ``x`` is answered, against the threshold for its question (``threshold_for``)."""
    return np.array([model.probability_vector(v) >= model.threshold_for(Signals(*v)) for v in x])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=Path, nargs="+", default=SETS)
    parser.add_argument("--write", action="store_true", help="write the fit to rag/calibration.json (-verified.json)")
    args = parser.parse_args()

    settings = Settings.from_env()
    names = VERIFIED if settings.verifier else FEATURES
    target = ROOT / "rag" / (VERIFIED_CALIBRATION if settings.verifier else CALIBRATION)
    # The shipped calibration may not fit the features any more: this script is what refits it.
    embedder = load_embedder(settings)
    verifier = verifier_for(settings, embedder)
    store = open_backend(settings).open()
    pipeline = Pipeline(settings, embedder, store, coverage=NEUTRAL, verifier=verifier)
    sets = []
    for path in args.questions:
        questions = load_questions(path)
        x = np.array([pipeline.signals(q.question).vector(names) for q in questions])
        y = np.array([1.0 if q.answerable else 0.0 for q in questions])
        sets.append((path.name, questions, x, y))
    x = np.concatenate([s[2] for s in sets])
    y = np.concatenate([s[3] for s in sets])

    print("not covered: share of unanswerable questions declined (true), of answerable ones (false)")
    for i, (name, _, xs, ys) in enumerate(sets):
        if len(sets) > 1:
            others = [s for j, s in enumerate(sets) if j != i]
            model = fit(np.concatenate([s[2] for s in others]), np.concatenate([s[3] for s in others]))
            true_rate, false_rate = rates(judged(model, xs), ys)
            print(f"  {name}, fitted on the other sets: true {true_rate:.3f}, false {false_rate:.3f}")
    loo_p = leave_one_out(x, y)
    threshold = CoverageModel.threshold
    true_rate, false_rate = rates(loo_p >= threshold, y)
    print(f"  leave-one-out over all {len(y)}: true {true_rate:.3f}, false {false_rate:.3f}")

    candidates = np.round(loo_p, 4)
    uncertain, cost = choose_uncertain(loo_p[y == 1], loo_p[y == 0], threshold, candidates)
    shown = loo_p >= uncertain
    print(
        f"uncertain from p >= {uncertain:.3f} (leave-one-out, cost {cost:.3f}: a hidden answer costs "
        f"{HIDDEN_ANSWER_COST:g}, a doubtful one shown {DOUBTFUL_SHOWN_COST:g}): answerable hidden "
        f"{np.mean(~shown[y == 1]):.3f}, unanswerable shown as uncertain {np.mean(shown[y == 0]):.3f}"
    )
    crosslingual = x[:, names.index("crosslingual")]
    crosslingual_threshold, crosslingual_cost = choose_crosslingual_threshold(loo_p, y, crosslingual)
    across = crosslingual > CROSSLINGUAL_QUESTION
    print(
        f"answered from p >= {crosslingual_threshold:.2f} for the {int(across.sum())} questions asked across languages "
        f"(leave-one-out cost {crosslingual_cost:g} questions, against "
        f"{choose_crosslingual_threshold(loo_p, y, crosslingual, (threshold,))[1]:g} at {threshold:g})"
    )
    # The verifier's logits beyond those the fit saw are taken as the nearest (CoverageModel.settled).
    seen = (float(x[:, -1].min()), float(x[:, -1].max())) if names == VERIFIED else None
    model = dataclasses.replace(
        fit(x, y, names=names),
        model=settings.embedding_model,
        uncertain=uncertain,
        verified_range=seen,
        crosslingual_threshold=None if crosslingual_threshold == threshold else crosslingual_threshold,
    )
    for name, _, xs, ys in sets:
        true_rate, false_rate = rates(judged(model, xs), ys)
        print(f"  {name}, fitted on all (what ships): true {true_rate:.3f}, false {false_rate:.3f}")
    for feature, weight in zip(names, model.weights, strict=True):
        print(f"  {feature:<14}{weight:+.3f}")
    for _, questions, xs, _ in sets:
        for q, v, predicted in zip(questions, xs, judged(model, xs), strict=True):
            if predicted != bool(q.answerable):
                print(f"  wrong: {q.id} answerable={q.answerable} p={model.probability_vector(v):.2f} {q.question}")
    if args.write:
        target.write_text(model.to_json() + "\n", "utf-8")
        print(f"written to {target}")


if __name__ == "__main__":
    main()
