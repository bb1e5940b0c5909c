"""Does the corpus cover the question? A logistic model over retrieval signals.

The weights live in ``rag/calibration.json``; ``bench/calibrate.py`` refits them on the benchmark
questions (leave-one-out figures are printed there, so the fit is judged on questions it did not see).
The file records the embedding model and the ranker it was fitted for, and is refused for another:
its signals are that model's cosines.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources

import numpy as np

from rag.errors import ConfigError
from rag.extraction import ScoredSentence
from rag.query import Query, named_as_written
from rag.retrieval import Retrieval
from rag.text.tokenize import tokenize
from rag.types import Grade

# Signals that were tried and dropped: the share of the question's words that one sentence holds,
# and the share the corpus has at all. They separated the benchmark set's unanswerable questions
# (AUC 0.77) but not the held-out set's (0.47, 0.40), whose unanswerable questions use the corpus's
# own words ("梁文峰毕业于哪所大学"): they measured how the benchmark was written, not coverage.
FEATURES = ("top_passage", "top_sentence", "margin", "keyword", "agreement", "unknown_name", "crosslingual")
# With RAG_VERIFIER=on: the verifier's logit on the scorer's first sentence as well (README, "The verifier").
VERIFIED = (*FEATURES, "verified")
NO_SENTENCE = -30.0  # the verifier's signal when retrieval finds no sentence at all
NO_VERIFIER = "this coverage model reads the verifier's signal, and no verifier was loaded"


# Features renamed since a calibration may have been written: its old name -> the name now.
RENAMED = {"latin": "crosslingual"}


@dataclass(frozen=True)
class Signals:
    top_passage: float  # best dense cosine of a passage
    top_sentence: float  # best dense cosine of a sentence
    margin: float  # best passage cosine minus the mean of the 10th-20th: is anything special?
    keyword: float  # log(1 + BM25 score of the best keyword hit): how much of the question one passage holds
    agreement: float  # share of the dense top 5 that keyword search also ranks in its top 10
    unknown_name: float  # 1 when the question names a versioned thing ("GPT-5") the corpus never does
    # The share of the question in the script the corpus is not written in (``Query.crosslingual``): keyword signals
    # mean less across languages.
    crosslingual: float
    verified: float | None = None  # the verifier's logit on the scorer's first sentence; None: no verifier

    def vector(self, features: tuple[str, ...] = FEATURES) -> np.ndarray:
        if self.verified is None and "verified" in features:
            raise ConfigError(NO_VERIFIER)
        return np.array([getattr(self, f) for f in features], dtype=np.float64)


@dataclass(frozen=True)
class CoverageModel:
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float = 0.5
    model: str | None = None  # the embedding model it was fitted for; None for a hand-made model
    ranker: str | None = None  # the ranker it was fitted behind; None: extraction's own scores
    # From this probability up to ``threshold`` the evidence is shown as "may not answer" (uncertain);
    # None: no such band, a question is answered or not covered.
    uncertain: float | None = None
    features: tuple[str, ...] = FEATURES  # or VERIFIED
    # The verifier's logits the fit saw, lowest and highest: one outside them is taken as the nearest, so that a
    # question whose grade is the same at both ends needs no verifier (``settled``). None: no such range.
    verified_range: tuple[float, float] | None = None
    # The "answered" threshold of a question asked across languages (its ``crosslingual`` signal above
    # CROSSLINGUAL_QUESTION): English questions over Chinese documents have lower cosines whatever the answer, and their
    # own cost trade-off (``choose_crosslingual_threshold``). None: ``threshold`` for every question.
    crosslingual_threshold: float | None = None

    @property
    def verified(self) -> bool:
        """Whether it reads the verifier's signal."""
        return "verified" in self.features

    def probability(self, signals: Signals) -> float:
        if self.verified_range is not None and signals.verified is not None:
            signals = replace(
                signals, verified=min(max(signals.verified, self.verified_range[0]), self.verified_range[1])
            )
        return self.probability_vector(signals.vector(self.features))

    def settled(self, signals: Signals) -> Grade | None:
        """The grade of a question whose retrieval signals decide it whatever the verifier would say (the same at
        both ends of ``verified_range``, between which the probability is monotone in the logit), or None when the
        verifier's signal is needed. A model that does not read the verifier always decides."""
        if not self.verified:
            return self.grade(self.probability(signals), signals)
        if self.verified_range is None:
            return None
        low, high = (self.grade(self.probability(replace(signals, verified=v)), signals) for v in self.verified_range)
        return low if low == high else None

    def probability_vector(self, features: np.ndarray) -> float:
        z = (features - np.array(self.mean)) / np.array(self.scale)
        logit = float(z @ np.array(self.weights)) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))

    def answerable(self, signals: Signals) -> bool:
        return self.probability(signals) >= self.threshold_for(signals)

    def threshold_for(self, signals: Signals) -> float:
        """The "answered" threshold for the question these signals are of."""
        if self.crosslingual_threshold is not None and signals.crosslingual > CROSSLINGUAL_QUESTION:
            return self.crosslingual_threshold
        return self.threshold

    def grade(self, probability: float, signals: Signals | None = None) -> Grade:
        """The grade of ``probability``, against the threshold for the question of ``signals`` (without them, the
        general one)."""
        answered = self.threshold if signals is None else self.threshold_for(signals)
        return grade(probability, answered, self.uncertain)

    def to_json(self) -> str:
        payload = {
            "model": self.model,
            "ranker": self.ranker,
            "features": list(self.features),
            "weights": list(self.weights),
            "bias": self.bias,
            "mean": list(self.mean),
            "scale": list(self.scale),
            "threshold": self.threshold,
            "uncertain_threshold": self.uncertain,
            **({"verified_range": list(self.verified_range)} if self.verified_range else {}),
            **(
                {"crosslingual_threshold": self.crosslingual_threshold}
                if self.crosslingual_threshold is not None
                else {}
            ),
        }
        return json.dumps(payload, indent=2)

    @classmethod
    def from_json(cls, text: str) -> CoverageModel:
        raw = json.loads(text)
        # Calibrations written before 2026-12-06 call the cross-language signal "latin", its threshold
        # "latin_threshold".
        features = tuple(RENAMED.get(f, f) for f in raw["features"])
        if features not in (FEATURES, VERIFIED):
            raise ValueError(f"calibration features {list(features)}: neither {list(FEATURES)} nor {list(VERIFIED)}")
        weights, mean, scale = tuple(raw["weights"]), tuple(raw["mean"]), tuple(raw["scale"])
        return cls(
            weights,
            raw["bias"],
            mean,
            scale,
            raw["threshold"],
            raw.get("model"),
            raw.get("ranker"),
            raw.get("uncertain_threshold"),
            features,
            tuple(raw["verified_range"]) if "verified_range" in raw else None,
            raw.get("crosslingual_threshold", raw.get("latin_threshold")),
        )


# Probability 0.5 for every question: what a pipeline is given while its signals are read to fit a model.
NEUTRAL = CoverageModel((0.0,) * len(FEATURES), 0.0, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES))


CALIBRATION = "calibration.json"
VERIFIED_CALIBRATION = "calibration-verified.json"  # fitted with the verifier's signal


def default_model(verified: bool = False) -> CoverageModel:
    """The shipped calibration (``rag/calibration.json``, or with ``verified`` the one that reads the
    verifier), whatever it was fitted for."""
    name = VERIFIED_CALIBRATION if verified else CALIBRATION
    return CoverageModel.from_json(resources.files("rag").joinpath(name).read_text("utf-8"))


def model_for(embedding_model: str, ranker: str | None = None, verified: bool = False) -> CoverageModel:
    """The shipped calibration, refused unless it was fitted for this embedding model and ranker."""
    model = default_model(verified)
    if (model.model, model.ranker) != (embedding_model, ranker):
        name = VERIFIED_CALIBRATION if verified else CALIBRATION
        # The verifier is built on the reader, which is built on the shipped embedding model: another model
        # serves without it, once the retrieval-only calibration is refitted for it.
        refit = "set RAG_VERIFIER=off and refit rag/calibration.json" if verified else "refit it"
        raise ConfigError(
            f"rag/{name} was fitted for model {model.model!r} and ranker {model.ranker!r}, not {embedding_model!r} "
            f"and {ranker!r}: {refit} with `RAG_VERIFIER=off python bench/calibrate.py --write`"
        )
    return model


# Choosing where "uncertain" starts (evidence shown with a "may not answer" label) below the answered
# threshold: a right answer hidden behind "not covered" is lost to the person asking, while a doubtful
# answer shown with its label and citations costs them a glance to dismiss. So hiding an answer counts
# five times as much as showing a labelled doubtful one. (At three times, the threshold is 0.30 and
# four benchmark answers whose passage retrieval ranked in the top 5 are hidden; 5 to 10 give 0.14.)
HIDDEN_ANSWER_COST = 5.0
DOUBTFUL_SHOWN_COST = 1.0


def choose_uncertain(
    answerable: Sequence[float] | np.ndarray,
    unanswerable: Sequence[float] | np.ndarray,
    threshold: float,
    candidates: Sequence[float] | np.ndarray,
) -> tuple[float, float]:
    """Where "uncertain" starts: the candidate at most ``threshold`` with the least stated cost over the
    questions (probabilities of answerable and unanswerable ones, never seen by the fit that gave them);
    the highest such candidate when several tie (fewest doubtful answers shown)."""
    best_t, best_cost = threshold, np.inf
    pos, neg = np.asarray(answerable), np.asarray(unanswerable)
    for t in sorted({*map(float, candidates), threshold}, reverse=True):
        if t > threshold:
            continue
        cost = HIDDEN_ANSWER_COST * np.mean(pos < t) + DOUBTFUL_SHOWN_COST * np.mean(neg >= t)
        if cost < best_cost - 1e-12:
            best_t, best_cost = float(t), float(cost)
    return best_t, best_cost


# Choosing the "answered" threshold of questions asked across languages (English ones, over the shipped corpus's
# Chinese): by the reader issue's cost, an answerable question declined counting twice an unanswerable one answered,
# over those questions' leave-one-out probabilities, among these candidates (the highest of those that tie).
CROSSLINGUAL_QUESTION = 0.5
CROSSLINGUAL_THRESHOLDS = (0.30, 0.35, 0.40, 0.45, 0.50)
DECLINED_ANSWER_COST = 2.0


def choose_crosslingual_threshold(
    probabilities: np.ndarray,
    labels: np.ndarray,
    crosslingual: np.ndarray,
    candidates: Sequence[float] = CROSSLINGUAL_THRESHOLDS,
) -> tuple[float, float]:
    """The candidate with the least cost over the questions whose ``crosslingual`` signal is above
    CROSSLINGUAL_QUESTION (``probabilities`` never seen by the fit that gave them), and that cost in questions."""
    mask = crosslingual > CROSSLINGUAL_QUESTION
    p, y = probabilities[mask], labels[mask]

    def cost(t: float) -> float:
        return float(DECLINED_ANSWER_COST * np.sum((p < t) & (y == 1)) + np.sum((p >= t) & (y == 0)))

    best = min(candidates, key=lambda t: (cost(t), -t))
    return float(best), cost(best)


def grade(probability: float, answered: float, uncertain: float | None) -> Grade:
    """answered from ``answered`` up, uncertain from ``uncertain`` up (when set), not_covered below."""
    if probability >= answered:
        return "answered"
    if uncertain is not None and probability >= uncertain:
        return "uncertain"
    return "not_covered"


def signals(
    query: Query,
    retrieval: Retrieval,
    scored: Sequence[ScoredSentence],
    corpus_names: frozenset[str],
    verified: float | None = None,
) -> Signals:
    """What the coverage model sees: read off the question, the rankings and the scored sentences (and the
    verifier's logit on the first of them, when it was read)."""
    dense = retrieval.rankings.get("dense", [])
    keyword = retrieval.rankings.get("keyword", [])
    if query.corpus_in_latin and query.crosslingual > CROSSLINGUAL_QUESTION:
        # A Chinese question over English text finds passages by the dictionary's English words for its words: common
        # words, which match the wrong passages as readily as the right one. The model does not count those matches
        # (README, "Chinese questions over English documents").
        keyword = []
    dense_scores = [s for _, s in dense]
    top = dense_scores[0] if dense_scores else 0.0
    tail = dense_scores[10:20] or dense_scores[-1:] or [0.0]
    return Signals(
        top_passage=top,
        top_sentence=max((s.similarity for s in scored), default=0.0),
        margin=top - float(np.mean(tail)),
        keyword=float(np.log1p(keyword[0][1])) if keyword else 0.0,
        agreement=agreement([i for i, _ in dense], [i for i, _ in keyword]),
        unknown_name=float(bool(query.names - corpus_names)),
        crosslingual=query.crosslingual,
        verified=verified,
    )


def names_subject(query: Query, sentence: str) -> bool:
    """Whether ``sentence`` names what a question that asks what or who something is asks about: the subject as
    written (any case, any spaces or punctuation between its letters), or every word of it (or one of its
    translations) among the sentence's own terms. False for any other question."""
    if query.subject is None:
        return False
    if _written_in(query.subject, sentence):
        return True
    if named_as_written(query.subject):  # "mixture of experts": its words' translations might name a relation instead
        return False
    terms = set(tokenize(sentence))
    found = [terms.intersection(group) for group in query.subject_terms]
    # One Chinese character is too little to name a thing: 绕 is among the glosses of "perplexity".
    return bool(found) and all(found) and sum(len(t) for t in set().union(*found)) > 1


def _written_in(subject: str, sentence: str) -> bool:
    """Whether ``sentence`` holds ``subject`` as written, whatever the case and the spaces or punctuation between its
    letters ("DeepSeek V3" in "DeepSeek-V3的"), and not inside a longer Latin word ("RL" is not in "world")."""
    letters = [ch for ch in subject.lower() if ch.isalnum()]
    if not letters:
        return False
    start = r"(?<![a-z0-9])" if letters[0].isascii() else ""
    end = r"(?![a-z0-9])" if letters[-1].isascii() else ""
    return re.search(start + r"[\W_]*".join(map(re.escape, letters)) + end, sentence.lower()) is not None


def agreement(dense_ids: Sequence[int], keyword_ids: Sequence[int], depth: int = 5) -> float:
    top = list(dense_ids[:depth])
    return len(set(top) & set(keyword_ids[: 2 * depth])) / max(1, len(top))


def fit(
    features: np.ndarray,
    labels: np.ndarray,
    l2: float = 1.0,
    steps: int = 3000,
    sample_weight: np.ndarray | None = None,
    names: tuple[str, ...] = FEATURES,
) -> CoverageModel:
    """L2-regularised logistic regression by gradient descent on standardised features (the columns
    ``names``: FEATURES, or VERIFIED). Each question weighs ``sample_weight`` (mean 1); by default
    ``class_balanced(labels)``."""
    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    x = (features - mean) / scale
    sample_w = class_balanced(labels) if sample_weight is None else sample_weight
    w = np.zeros(x.shape[1])
    b = 0.0
    lr = 0.1
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        err = (p - labels) * sample_w
        w -= lr * (x.T @ err / len(x) + l2 * w / len(x))
        b -= lr * err.mean()
    return CoverageModel(
        tuple(map(float, w)), float(b), tuple(map(float, mean)), tuple(map(float, scale)), features=names
    )


def class_balanced(labels: np.ndarray) -> np.ndarray:
    """Weights (mean 1) under which both classes weigh the same: unanswerable questions are the minority
    and the costly error."""
    pos = float(labels.mean())
    weights: np.ndarray = np.where(labels == 1, 0.5 / max(pos, 1e-6), 0.5 / max(1 - pos, 1e-6))
    return weights


def leave_one_out(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each question's probability from a model fitted on all the others: how the fit is judged."""
    out = np.zeros(len(labels))
    for i in range(len(labels)):
        keep = np.arange(len(labels)) != i
        out[i] = fit(features[keep], labels[keep]).probability_vector(features[i])
    return out
