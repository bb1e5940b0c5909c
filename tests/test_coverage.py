from __future__ import annotations

import numpy as np

from rag.coverage import FEATURES, CoverageModel, Signals, agreement, default_model, fit
from rag.query import latin_share


def _signals(level: float) -> Signals:
    return Signals(*([level] * len(FEATURES)))


def test_fit_separates_separable_signals() -> None:
    rng = np.random.default_rng(0)
    good = rng.normal(0.9, 0.02, size=(30, len(FEATURES)))
    bad = rng.normal(0.6, 0.02, size=(10, len(FEATURES)))
    model = fit(np.vstack([good, bad]), np.array([1] * 30 + [0] * 10, dtype=float))
    assert model.answerable(_signals(0.9)) and not model.answerable(_signals(0.6))


def test_model_round_trips_through_json() -> None:
    model = CoverageModel((1.0,) * len(FEATURES), -0.5, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), 0.4)
    assert CoverageModel.from_json(model.to_json()) == model


def test_the_shipped_calibration_loads() -> None:
    model = default_model()
    assert 0.0 <= model.probability(_signals(0.8)) <= 1.0


def test_agreement_counts_dense_top_found_by_keywords() -> None:
    assert agreement([1, 2, 3, 4, 5], [5, 4, 9, 9, 9, 9, 9, 9, 9, 1]) == 0.6
    assert agreement([], [1]) == 0.0


def test_latin_share() -> None:
    assert latin_share("DeepSeek 成本") == 8 / 10
    assert latin_share("123 ?") == 0.0
