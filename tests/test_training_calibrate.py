"""The reader's dev figures, read through any scorer (torch or ONNX), and its decline rates at a calibration."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from rag.training.calibrate import DevQuestion, DevSet, decision_rates, evaluate
from rag.types import Candidate

SENTENCES = ("它由梁文峰创立。", "公司位于杭州。", "天气很好。")


def _dev() -> DevSet:
    passages = tuple(Candidate("深度求索", "", s) for s in SENTENCES)
    # The answer is in the first sentence; the last comes from another article ("not indexed").
    return DevSet("zh→zh", (DevQuestion("谁创立了深度求索？", passages, 0, (2, 5), "梁文峰", 1),))


def _scorer(logits: list[float]):  # type: ignore[no-untyped-def]
    def score(question: str, passages: Sequence[Candidate]) -> tuple[np.ndarray, list[tuple[int, int] | None]]:
        return np.array(logits, dtype=np.float32), [(2, 5)] + [None] * (len(passages) - 1)

    return score


def test_a_scorer_that_ranks_the_answer_first_gets_every_figure() -> None:
    figures = evaluate(_scorer([3.0, 1.0, -2.0]), _dev())
    assert (figures["top1"], figures["auc"], figures["answer_f1"]) == (1.0, 1.0, 1.0)
    assert figures["not_indexed_logits"] == [-2.0]
    assert figures["near_miss_logits"] == [-2.0]  # the sentence after the answer is left out too


def test_a_scorer_that_ranks_another_sentence_first_misses_top1_and_auc() -> None:
    figures = evaluate(_scorer([1.0, 3.0, -2.0]), _dev())
    assert figures["top1"] == 0.0 and figures["auc"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("threshold", "declined"),
    [pytest.param(0.4, (0.0, 1.0), id="below-both"), pytest.param(0.6, (1.0, 1.0), id="above-both")],
)
def test_decline_rates_follow_the_calibration(threshold: float, declined: tuple[float, float]) -> None:
    figures = evaluate(_scorer([0.2, -1.0, -3.0]), _dev())  # probabilities 0.55 and 0.05 at temperature 1
    rates = decision_rates([figures], 1.0, 0.0, threshold, 0.0)
    assert (rates["answerable_declined"], rates["not_indexed_declined"]) == declined
    assert rates["answerable_not_covered"] == 0.0
