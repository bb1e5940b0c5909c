from __future__ import annotations

import numpy as np
import pytest

from rag import coverage
from rag.coverage import (
    CROSSLINGUAL_QUESTION,
    DOUBTFUL_SHOWN_COST,
    FEATURES,
    HIDDEN_ANSWER_COST,
    VERIFIED,
    CoverageModel,
    Signals,
    agreement,
    choose_crosslingual_threshold,
    choose_uncertain,
    default_model,
    fit,
    leave_one_out,
)
from rag.errors import ConfigError
from rag.query import Query, crosslingual_share, latin_share
from rag.retrieval import Retrieval


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


def test_a_model_that_reads_the_verifier_round_trips_with_its_features() -> None:
    n = len(VERIFIED)
    model = CoverageModel((1.0,) * n, -0.5, (0.0,) * n, (1.0,) * n, 0.4, uncertain=0.3, features=VERIFIED)
    again = CoverageModel.from_json(model.to_json())
    assert again == model and again.verified and not default_model().verified


def test_a_calibration_with_unknown_features_is_refused() -> None:
    text = CoverageModel((1.0,) * 7, 0.0, (0.0,) * 7, (1.0,) * 7).to_json().replace('"crosslingual"', '"lateness"')
    with pytest.raises(ValueError, match="lateness"):
        CoverageModel.from_json(text)


def test_a_calibration_written_with_the_old_name_of_the_crosslingual_signal_still_loads() -> None:
    n = len(VERIFIED)
    model = CoverageModel((1.0,) * n, 0.0, (0.0,) * n, (1.0,) * n, features=VERIFIED, crosslingual_threshold=0.35)
    old = model.to_json().replace('"crosslingual"', '"latin"').replace('"crosslingual_threshold"', '"latin_threshold"')
    assert '"latin"' in old and "latin_threshold" in old
    assert CoverageModel.from_json(old) == model


def test_the_verifiers_signal_is_read_only_by_a_model_fitted_with_it() -> None:
    signals = Signals(*([0.5] * len(FEATURES)), verified=4.0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, len(VERIFIED)))
    y = (x[:, -1] > 0).astype(float)  # only the verifier's column separates them
    model = fit(x, y, names=VERIFIED)
    assert model.features == VERIFIED and model.answerable(signals)
    assert not model.answerable(Signals(*([0.5] * len(FEATURES)), verified=-4.0))
    assert signals.vector().shape == (len(FEATURES),)  # a retrieval-only model ignores it
    with pytest.raises(ConfigError, match="no verifier"):
        model.probability(_signals(0.5))


def _verified_model(bias: float, verified_range: tuple[float, float] | None = (-2.0, 2.0)) -> CoverageModel:
    """Reads the verifier's logit alone (weight 1) after ``bias``; uncertain from 0.3."""
    n = len(VERIFIED)
    weights = (0.0,) * (n - 1) + (1.0,)
    return CoverageModel(
        weights, bias, (0.0,) * n, (1.0,) * n, 0.5, uncertain=0.3, features=VERIFIED, verified_range=verified_range
    )


@pytest.mark.parametrize(
    ("bias", "settled"),
    [(10.0, "answered"), (-10.0, "not_covered"), (0.0, None), (-1.5, None)],
)
def test_a_grade_the_verifier_cannot_change_is_settled_without_it(bias: float, settled: str | None) -> None:
    model = _verified_model(bias)
    retrieval_only = _signals(0.5)  # verified: None
    assert model.settled(retrieval_only) == settled
    for logit in np.linspace(-2.0, 2.0, 9):  # wherever the verifier's logit falls in the range, the same grade
        graded = model.grade(model.probability(Signals(*([0.5] * len(FEATURES)), verified=float(logit))))
        assert settled is None or graded == settled


def test_a_logit_beyond_the_fitted_range_counts_as_its_end() -> None:
    model = _verified_model(0.0)
    beyond, end = (Signals(*([0.5] * len(FEATURES)), verified=v) for v in (9.0, 2.0))
    assert model.probability(beyond) == model.probability(end) < _verified_model(0.0, None).probability(beyond)
    assert CoverageModel.from_json(model.to_json()) == model


def test_without_a_range_the_verifier_is_always_read_and_without_the_verifier_never() -> None:
    assert _verified_model(10.0, None).settled(_signals(0.5)) is None
    assert default_model().settled(_signals(0.5)) == default_model().grade(default_model().probability(_signals(0.5)))


def test_the_shipped_calibration_loads() -> None:
    model = default_model()
    assert 0.0 <= model.probability(_signals(0.8)) <= 1.0


def test_agreement_counts_dense_top_found_by_keywords() -> None:
    assert agreement([1, 2, 3, 4, 5], [5, 4, 9, 9, 9, 9, 9, 9, 9, 1]) == 0.6
    assert agreement([], [1]) == 0.0


def test_latin_share() -> None:
    assert latin_share("DeepSeek 成本") == 8 / 10
    assert latin_share("123 ?") == 0.0


def test_the_crosslingual_share_is_of_the_script_the_corpus_is_not_written_in() -> None:
    assert crosslingual_share("DeepSeek 成本", corpus_in_latin=False) == 8 / 10  # over the seeds: Latin letters
    assert crosslingual_share("DeepSeek 成本", corpus_in_latin=True) == pytest.approx(2 / 10)  # over English text
    assert crosslingual_share("谁创办了它？", corpus_in_latin=True) == 1.0
    assert crosslingual_share("123 ?", corpus_in_latin=True) == 0.0  # no letters: no language to cross


def test_the_uncertain_band_starts_where_hiding_answers_would_cost_more() -> None:
    # Five answerable questions and five unanswerable: hiding one answer costs 5/5, showing a doubtful one 1/5.
    answerable = [0.9, 0.8, 0.7, 0.3, 0.2]
    unanswerable = [0.25, 0.1, 0.05, 0.02, 0.01]
    uncertain, cost = choose_uncertain(answerable, unanswerable, 0.5, [0.01, 0.05, 0.1, 0.2, 0.25, 0.3])
    assert uncertain == 0.2  # every answer shown, one doubtful question shown with it
    assert cost == pytest.approx(HIDDEN_ANSWER_COST * 0 + DOUBTFUL_SHOWN_COST * 1 / 5)


def test_the_uncertain_band_never_starts_above_the_answered_threshold() -> None:
    uncertain, _ = choose_uncertain([0.9], [0.1], 0.5, [0.6, 0.7])
    assert uncertain == 0.5


@pytest.mark.parametrize(
    ("probability", "grade"), [(0.5, "answered"), (0.49, "uncertain"), (0.14, "uncertain"), (0.13, "not_covered")]
)
def test_a_probability_is_graded_by_the_two_thresholds(probability: float, grade: str) -> None:
    assert coverage.grade(probability, 0.5, 0.14) == grade
    assert coverage.grade(probability, 0.5, None) == ("answered" if probability >= 0.5 else "not_covered")


def _across(level: float, crosslingual: float) -> Signals:
    return Signals(*([level] * (len(FEATURES) - 1)), crosslingual=crosslingual)


def test_a_question_asked_across_languages_is_judged_against_its_own_threshold() -> None:
    # Weights only on top_passage: the probability is the same whatever the script.
    flat = (1.0,) + (0.0,) * (len(FEATURES) - 1)
    model = CoverageModel(
        flat, 0.0, (0.6,) + (0.0,) * (len(FEATURES) - 1), (1.0,) * len(FEATURES), 0.5, crosslingual_threshold=0.4
    )
    english, chinese = _across(0.5, 0.9), _across(0.5, 0.1)
    assert model.probability(english) == model.probability(chinese) < 0.5
    assert model.probability(english) >= 0.4
    assert model.answerable(english) and not model.answerable(chinese)
    assert model.grade(model.probability(english), english) == "answered"
    assert model.grade(model.probability(chinese), chinese) == model.grade(model.probability(chinese)) == "not_covered"
    assert model.settled(english) == "answered" and model.settled(chinese) == "not_covered"
    assert CoverageModel.from_json(model.to_json()) == model
    assert "crosslingual_threshold" not in CoverageModel(flat, 0.0, (0.0,) * 7, (1.0,) * 7).to_json()


def test_the_crosslingual_threshold_is_chosen_by_the_stated_cost_over_those_questions_alone() -> None:
    # English: two answers at 0.4 and 0.45 (each declined costs 2), one unanswerable at 0.32 (answered costs 1).
    p = np.array([0.4, 0.45, 0.32, 0.9, 0.05, 0.42])
    y = np.array([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    across = np.array([0.9, 0.8, 1.0, 0.9, 0.7, 0.1])  # the last question is Chinese: not counted
    assert choose_crosslingual_threshold(p, y, across) == (0.40, 0.0)
    assert choose_crosslingual_threshold(p, y, across, (0.5,)) == (0.5, 4.0)
    # A tie goes to the highest candidate: fewer unanswerable questions answered for the same cost.
    assert choose_crosslingual_threshold(np.array([0.9, 0.1]), np.array([1.0, 0.0]), np.array([1.0, 1.0]))[0] == 0.5
    assert CROSSLINGUAL_QUESTION == 0.5


def test_leave_one_out_judges_each_question_by_a_fit_without_it() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 2))
    y = (x[:, 0] > 0).astype(float)
    x[3] = [5.0, 0.0]
    y[3] = 0.0  # an outlier: a fit that sees it doubts it, the others' fit calls it answerable
    out = leave_one_out(x, y)
    keep = np.arange(12) != 3
    assert out[3] == pytest.approx(fit(x[keep], y[keep]).probability_vector(x[3]))
    assert out[3] > fit(x, y).probability_vector(x[3]) + 0.2 and out.shape == (12,)


def test_sample_weights_decide_which_questions_the_fit_follows() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0], [2.5], [0.5]])
    y = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    assert fit(x, y, sample_weight=coverage.class_balanced(y)) == fit(x, y)
    # Weigh the two contrary questions (2.5 unanswerable, 0.5 answerable) up and the boundary flips side.
    contrary = np.array([0.2, 0.2, 0.2, 0.2, 2.6, 2.6])
    assert fit(x, y).probability_vector(np.array([3.0])) > 0.5
    assert fit(x, y, sample_weight=contrary).probability_vector(np.array([3.0])) < 0.5
    assert coverage.class_balanced(y).mean() == pytest.approx(1.0)


def _asking(subject: str | None, *terms: tuple[str, ...]) -> Query:
    return Query(f"What is {subject}?", np.zeros(4), [list(t) for t in terms], None, frozenset(), 1.0, subject, terms)


@pytest.mark.parametrize(
    ("query", "sentence"),
    [
        (_asking("MLA", ("mla",)), "DeepSeek采用了两种主要技术:混合专家模型和MLA。"),
        (_asking("DeepSeek V3", ("deepseek",), ("v3",)), "DeepSeek-V3的完整训练仅需2.788M GPU小时。"),  # as written
        (_asking("RL", ("rl",)), "强化学习,简称RL。"),
        (_asking("幻方量化", ("幻方",), ("量化",)), "一家从事量化金融的中国公司“幻方 量化”。"),
        (_asking("Jevons paradox", ("jevons",), ("paradox", "悖论")), "这就是著名的杰文斯悖论，也叫 Jevons 效应。"),
        (_asking("Liang Wenfeng", ("liang", "梁"), ("wenfeng", "文峰")), "梁文峰在知乎上回答了这个问题。"),
        (_asking("mixture of experts", ("mixture",), ("experts",)), "混合专家模型(Mixture of Experts, MoE)架构。"),
    ],
)
def test_a_sentence_names_the_subject_as_written_or_word_by_word_through_translations(
    query: Query, sentence: str
) -> None:
    assert coverage.names_subject(query, sentence)


@pytest.mark.parametrize(
    ("query", "sentence"),
    [
        (_asking("Jevons paradox", ("jevons",), ("paradox", "悖论")), "这就是著名的悖论。"),  # one word of two
        (_asking("Perplexity", ("perplexity", "绕")), "苏联人发了一颗篮球上天,绕着地球飞行。"),  # one character
        (_asking("RL", ("rl",)), "DeepSeek改变了AI world的格局。"),  # inside a longer word
        (_asking("Demis Hassabis", ("demis",), ("hassabis",)), "DeepSeek采用了两种主要技术。"),
        (_asking(None), "DeepSeek采用了两种主要技术。"),  # not a question that asks what something is
        # A subject that holds "of" names a sentence only as written, not through its words' translations.
        (_asking("capital of france", ("capital", "首都"), ("france", "法国")), "法国的首都是巴黎。"),
    ],
)
def test_a_sentence_that_lacks_a_word_of_the_subject_or_has_one_character_of_it_does_not_name_it(
    query: Query, sentence: str
) -> None:
    assert not coverage.names_subject(query, sentence)


def test_a_chinese_questions_keyword_matches_in_english_text_are_not_counted() -> None:
    found = Retrieval([], [], {"dense": [(0, 0.8), (1, 0.7)], "keyword": [(0, 5.0)]})

    def read(latin: float, corpus_in_latin: bool) -> coverage.Signals:
        query = Query("q", np.zeros(4), [], None, frozenset(), latin, corpus_in_latin=corpus_in_latin)
        return coverage.signals(query, found, [], frozenset())

    over_english = read(1.0, corpus_in_latin=True)
    assert over_english.keyword == 0.0 and over_english.agreement == 0.0
    for counted in (read(1.0, corpus_in_latin=False), read(0.0, corpus_in_latin=True)):  # English over Chinese, or
        assert counted.keyword == pytest.approx(np.log1p(5.0)) and counted.agreement > 0  # no language crossed
