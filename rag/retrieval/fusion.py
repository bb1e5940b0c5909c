"""Reciprocal rank fusion: score(d) = sum over rankings of weight / (k + rank(d)), rank from 1."""

from __future__ import annotations

from collections.abc import Sequence


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
