from __future__ import annotations

import pytest

from rag.retrieval.fusion import reciprocal_rank_fusion


def test_an_item_ranked_by_both_beats_items_ranked_by_one() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 4, 1]], k=60)
    assert [i for i, _ in fused][:2] == [1, 3]
    assert dict(fused)[1] == pytest.approx(1 / 61 + 1 / 63)


def test_single_ranking_keeps_its_order() -> None:
    assert [i for i, _ in reciprocal_rank_fusion([[5, 4, 9]])] == [5, 4, 9]


def test_empty_rankings_give_nothing() -> None:
    assert reciprocal_rank_fusion([[], []]) == []


def test_k_sets_how_much_a_first_place_outweighs_agreement() -> None:
    # Item 1 is first in one list only; item 2 is second in both.
    steep = dict(reciprocal_rank_fusion([[1, 2], [3, 2]], k=1))  # 1/2 against 2/3
    flat = dict(reciprocal_rank_fusion([[1, 2], [3, 2]], k=60))  # 1/61 against 2/62
    assert steep[1] / steep[2] > flat[1] / flat[2]


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="k must be at least 1"):
        reciprocal_rank_fusion([[1]], k=0)


def test_weights_scale_each_ranking() -> None:
    fused = dict(reciprocal_rank_fusion([[1], [2]], k=10, weights=[1.0, 3.0]))
    assert fused[2] == pytest.approx(3 * fused[1])
    with pytest.raises(ValueError, match="one weight per ranking"):
        reciprocal_rank_fusion([[1], [2]], weights=[1.0])
