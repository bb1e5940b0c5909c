"""Reciprocal rank fusion: score(d) = sum over rankings of 1 / (k + rank(d)), rank from 1."""

from __future__ import annotations

from collections.abc import Sequence


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60) -> list[tuple[int, float]]:
    if k < 1:
        raise ValueError(f"k must be at least 1. Currently, k is {k}")
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    # Ties keep the order of first appearance, which favours the first ranking given.
    return sorted(scores.items(), key=lambda kv: -kv[1])
