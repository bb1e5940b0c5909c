"""Reciprocal rank fusion: score(d) = sum over rankings of weight / (k + rank(d)), rank from 1."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rag.stores.base import Ranking


@dataclass(frozen=True)
class Fused:
    position: int
    score: float
    rank: int
    retrievers: dict[str, tuple[int, float]]  # retriever name -> (rank, score), where it ranked the item


class RRFJoiner:
    """Joins named rankings by weighted reciprocal rank fusion; a ranking without a weight is kept
    on each item (for debugging and the coverage signals) but does not vote."""

    def __init__(self, k: int, weights: Mapping[str, float]) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1. Currently, k is {k}")
        for name, weight in weights.items():
            if not weight > 0:
                raise ValueError(f"weights must be greater than 0. Currently, the weight of {name!r} is {weight}")
        self.k = k
        self.weights = dict(weights)

    def join(self, rankings: Mapping[str, Ranking]) -> list[Fused]:
        voting = [name for name in self.weights if name in rankings]
        fused = reciprocal_rank_fusion(
            [[i for i, _ in rankings[name]] for name in voting], self.k, [self.weights[name] for name in voting]
        )
        at = {name: {i: (rank, s) for rank, (i, s) in enumerate(r, start=1)} for name, r in rankings.items()}
        return [
            Fused(i, score, rank, {name: found[i] for name, found in at.items() if i in found})
            for rank, (i, score) in enumerate(fused, start=1)
        ]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    if k < 1:
        raise ValueError(f"k must be at least 1. Currently, k is {k}")
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise ValueError(f"one weight per ranking. Currently, {len(weights)} weights for {len(rankings)} rankings")
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    # Ties keep the order of first appearance, which favours the first ranking given.
    return sorted(scores.items(), key=lambda kv: -kv[1])
