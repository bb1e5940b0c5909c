"""Refit the coverage model (rag/calibration.json) on a labelled question set.

    python bench/calibrate.py [--questions FILE] [--write]

Prints leave-one-out rates first: each question is judged by a model fitted without it, which is
the honest estimate of how the fit does on questions it has not seen.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.coverage import FEATURES, CoverageModel, fit
from rag.embedding import load_embedder
from rag.evaluation import load_questions
from rag.pipeline import Pipeline
from rag.store import load_index

CALIBRATION = Path(__file__).resolve().parent.parent / "rag" / "calibration.json"


def rates(predicted: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(share of unanswerable judged not covered, share of answerable judged not covered)."""
    return float(np.mean(~predicted[labels == 0])), float(np.mean(~predicted[labels == 1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=Path, default=Path("tests/benchmark/questions.jsonl"))
    parser.add_argument("--write", action="store_true", help="write the fit to rag/calibration.json")
    args = parser.parse_args()

    settings = Settings.from_env()
    # The shipped calibration may not fit the features any more: this script is what refits it.
    neutral = CoverageModel((0.0,) * len(FEATURES), 0.0, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES))
    pipeline = Pipeline(settings, load_embedder(settings), load_index(settings.index_dir), coverage=neutral)
    questions = load_questions(args.questions)
    x = np.array([pipeline.signals(q.question).vector() for q in questions])
    y = np.array([1.0 if q.answerable else 0.0 for q in questions])

    loo = np.zeros(len(y), dtype=bool)
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        model = fit(x[keep], y[keep])
        loo[i] = model.probability_vector(x[i]) >= model.threshold
    true_rate, false_rate = rates(loo, y)
    print(f"leave-one-out: not-covered true rate {true_rate:.3f}, false rate {false_rate:.3f}")

    model = fit(x, y)
    fitted = np.array([model.probability_vector(v) >= model.threshold for v in x])
    true_rate, false_rate = rates(fitted, y)
    print(f"fitted on all: not-covered true rate {true_rate:.3f}, false rate {false_rate:.3f}")
    for name, weight in zip(FEATURES, model.weights, strict=True):
        print(f"  {name:<14}{weight:+.3f}")
    for q, v, predicted in zip(questions, x, fitted, strict=True):
        if predicted != bool(q.answerable):
            print(f"  wrong: {q.id} answerable={q.answerable} p={model.probability_vector(v):.2f} {q.question}")
    if args.write:
        CALIBRATION.write_text(model.to_json() + "\n", "utf-8")
        print(f"written to {CALIBRATION}")


if __name__ == "__main__":
    main()
