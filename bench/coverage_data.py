"""Would the coverage model judge better fitted on the data sets' questions as well as the seed sets?
(`python -m bench.coverage_data [--datasets DIR]`, about ten minutes on 2 cores.)

The shipped model (rag/calibration.json) is fitted on the 141 seed questions alone. Here it is refitted on
those and on questions from the reader's training articles, asked as ``rag eval --squad --split-articles``
asks them: XQuAD articles 1-18 (English and Chinese questions over the Chinese paragraphs) in indexes of six
articles, CMRC 2018's dev file in indexes of 283 articles, every other article left out (its questions are
unanswerable), and one paragraph in four of each indexed article left out too (near misses, which is what the
seed sets' unanswerable questions are). The seed questions weigh as much in total as the data sets' do, each
half with its classes balanced.

Each model is judged where its fit never looked: on the reader's dev articles (XQuAD 19-24 in English and
Chinese, the CMRC trial file, as ``rag eval --squad --split-articles`` builds them), and on the seed questions
leave-one-out (each refitted without it). The cost is the reader issue's: a hidden answer counts twice a
not-indexed question answered.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.coverage import DECLINED_ANSWER_COST, FEATURES, NEUTRAL, CoverageModel, class_balanced, default_model, fit
from rag.embedding import Embedder, load_embedder
from rag.evaluation.metrics import SEED_SETS, load_questions
from rag.evaluation.squad import every_fourth_paragraph, opener, squad_index
from rag.pipeline import Pipeline
from rag.training.pairs import QuestionSet, reader_sets
from rag.training.squad import Article

CROSSLINGUAL = FEATURES.index("crosslingual")


@dataclass(frozen=True)
class Signals:
    """Coverage signals of a question set, with each question's kind: answerable, not_indexed or near."""

    x: np.ndarray
    kinds: tuple[str, ...]

    @property
    def y(self) -> np.ndarray:
        return np.array([k == "answerable" for k in self.kinds], dtype=np.float64)

    @staticmethod
    def join(parts: Sequence[Signals]) -> Signals:
        return Signals(np.concatenate([p.x for p in parts]), tuple(k for p in parts for k in p.kinds))


def squad_signals(
    settings: Settings, embedder: Embedder, articles: Sequence[Article], asked_as: dict[str, str], near: bool
) -> Signals:
    """Every question of ``articles`` asked (as ``asked_as`` words it) of an index without the odd articles
    and, with ``near``, without paragraph 4k+3 of each indexed article."""

    open_pipeline = opener(settings, embedder, NEUTRAL)
    with squad_index(articles, True, open_pipeline, every_fourth_paragraph if near else None) as indexed:
        asked = indexed.questions(asked_as)
        kinds = tuple(indexed.kind(a) for a in asked)
        return Signals(np.array([indexed.pipeline.signals(a.question).vector() for a in asked]), kinds)


def in_groups(articles: Sequence[Article], size: int) -> list[Sequence[Article]]:
    return [articles[i : i + size] for i in range(0, len(articles), size)]


def with_interactions(x: np.ndarray) -> np.ndarray:
    """The signals, and the first four times the question's cross-language share: English questions' cosines with
    Chinese sentences are lower and flatter, so they may need weights of their own."""
    return np.column_stack([x, x[:, :4] * x[:, CROSSLINGUAL : CROSSLINGUAL + 1]])


def two_halves(seeds: Signals, data: Signals) -> np.ndarray:
    """Sample weights (mean 1): the seeds weigh as much in total as the data sets, classes balanced in each."""
    n = len(seeds.kinds) + len(data.kinds)
    halves = [class_balanced(s.y) / len(s.kinds) * n / 2 for s in (seeds, data)]
    return np.concatenate(halves)


@dataclass(frozen=True)
class Candidate:
    name: str
    transform: Callable[[np.ndarray], np.ndarray]

    def fit(self, seeds: Signals, data: Signals) -> CoverageModel:
        x = self.transform(np.concatenate([seeds.x, data.x]))
        return fit(x, np.concatenate([seeds.y, data.y]), sample_weight=two_halves(seeds, data))

    def leave_one_out(self, seeds: Signals, data: Signals) -> np.ndarray:
        out = np.zeros(len(seeds.kinds))
        for i in range(len(out)):
            rest = Signals(np.delete(seeds.x, i, axis=0), seeds.kinds[:i] + seeds.kinds[i + 1 :])
            out[i] = self.fit(rest, data).probability_vector(self.transform(seeds.x[i : i + 1])[0])
        return out


def rates(p: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(answerable declined, unanswerable declined, cost) at the answered threshold."""
    answered = p >= CoverageModel.threshold
    hidden, declined = float(np.mean(~answered[y == 1])), float(np.mean(~answered[y == 0]))
    return hidden, declined, DECLINED_ANSWER_COST * hidden + 1 - declined


def probabilities(model: CoverageModel, x: np.ndarray) -> np.ndarray:
    return np.array([model.probability_vector(v) for v in x])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    embedder = load_embedder(settings)
    sets = reader_sets(args.datasets)

    def collect(s: QuestionSet) -> Signals:
        # Near misses only where the model is fitted: the dev articles are asked as `rag eval --squad` asks them.
        groups = in_groups(s.articles, s.size)
        return Signals.join([squad_signals(settings, embedder, g, s.asked_as, s.training) for g in groups])

    training = Signals.join([collect(s) for s in sets if s.training])
    dev = {s.name: collect(s) for s in sets if not s.training}
    neutral = Pipeline.from_settings(settings, embedder=embedder, coverage=NEUTRAL)
    seed_questions = [q for path in SEED_SETS for q in load_questions(path)]
    seeds = Signals(
        np.array([neutral.signals(q.question).vector() for q in seed_questions]),
        tuple("answerable" if q.answerable else "near" for q in seed_questions),
    )
    counts = ", ".join(f"{training.kinds.count(k)} {k}" for k in ("answerable", "not_indexed", "near"))
    print(f"training questions: {counts}; seed questions: {len(seeds.kinds)}")

    shipped = default_model()
    seed_loo = np.zeros(len(seeds.kinds))
    for i in range(len(seed_loo)):
        keep = np.arange(len(seed_loo)) != i
        seed_loo[i] = fit(seeds.x[keep], seeds.y[keep]).probability_vector(seeds.x[i])
    shipped_rates = {n: rates(probabilities(shipped, s.x), s.y) for n, s in dev.items()}
    rows = [("shipped (seeds only)", shipped_rates, rates(seed_loo, seeds.y))]
    candidates = (
        Candidate("seeds + data", lambda x: x),
        Candidate("seeds + data, cross-language interactions", with_interactions),
    )
    for candidate in candidates:
        model = candidate.fit(seeds, training)
        judged = {n: rates(probabilities(model, candidate.transform(s.x)), s.y) for n, s in dev.items()}
        rows.append((candidate.name, judged, rates(candidate.leave_one_out(seeds, training), seeds.y)))

    print("answerable declined / not indexed (or unanswerable) declined / cost = 2 x the first + 1 - the second")
    header = [*dev, "seeds, leave-one-out"]
    print(f"{'fitted on':<34}" + "".join(f"{h:>26}" for h in header))
    for name, judged, loo in rows:
        cells = [*judged.values(), loo]
        print(f"{name:<34}" + "".join(f"{' / '.join(f'{v:.3f}' for v in c):>26}" for c in cells))


if __name__ == "__main__":
    main()
