"""The residual reader experiment: the order it learns, its loss, and the candidate lists it stores."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from rag.extraction import ScoredSentence
from rag.rankers.reading import MANIFEST
from rag.training.residual import LISTS, Blend, Listed, _holding, listwise_loss, train
from rag.types import Candidate, Chunk, Sentence


def test_the_loss_is_minus_the_log_of_the_gold_candidates_softmax_mass() -> None:
    order = torch.tensor([2.0, 1.0, 0.0])
    mass = torch.softmax(order, 0)
    one = torch.tensor([False, True, False])
    assert listwise_loss(order, one).item() == pytest.approx(-math.log(mass[1]), rel=1e-5)
    both = torch.tensor([True, True, False])
    assert listwise_loss(order, both).item() == pytest.approx(-math.log(mass[0] + mass[1]), rel=1e-5)


def test_the_blend_starts_from_the_scorer_and_learns_to_trust_a_reader_that_is_right() -> None:
    blend = Blend()
    scores, logits = torch.tensor([0.90, 0.88, 0.70]), torch.tensor([-2.0, 3.0, 0.0])
    assert torch.argmax(blend(scores, logits)).item() == 0  # alpha 0: the scorer's order
    assert blend(scores, logits)[0].item() == pytest.approx(0.90 / 0.05)
    listwise_loss(blend(scores, logits), torch.tensor([False, True, False])).backward()  # type: ignore[no-untyped-call]
    assert blend.alpha.grad is not None and blend.alpha.grad.item() < 0  # a step raises alpha


def test_a_sentence_holds_the_answer_with_offsets_inside_it() -> None:
    text = "前言。龙井茶产于杭州西湖。"
    sentence = Sentence(3, len(text), text[3:])
    chunk = Chunk("c", "d", 0, 0, len(text), text, (Sentence(0, 3, text[:3]), sentence))
    s = ScoredSentence(1, chunk, sentence, 0.9, 0.5, 1.0)
    start = text.index("杭州西湖")
    assert _holding("d", start, start + 4, s) == (start - 3, start + 1)
    assert sentence.text[start - 3 : start + 1] == "杭州西湖"
    assert _holding("other", start, start + 4, s) is False
    assert _holding("d", 0, 2, s) is False


def test_a_candidate_list_round_trips_and_ranks_only_with_gold_and_other_candidates() -> None:
    item = Listed(
        "dev",
        "龙井茶产于哪里？",
        (Candidate("t", "", "龙井茶产于杭州西湖。"), Candidate("t", "a", "b")),
        (0.9, 0.8),
        (True, False),
        ((5, 9), None),
    )
    assert Listed.from_json(item.to_json()) == item and item.rankable
    assert not Listed("dev", "q", item.candidates, item.scores, (True, True), (None, None)).rankable
    assert not Listed("dev", "q", item.candidates, item.scores, (False, False), (None, None)).rankable


@pytest.mark.model
def test_a_second_pass_continues_from_the_first_readers_order(tmp_path: Path) -> None:
    answer = Candidate("龙井茶", "", "龙井茶产于杭州西湖。")
    other = Candidate("龙井茶", "", "乌龙茶产于福建。")
    item = Listed("train zh", "龙井茶产于哪里？", (other, answer), (0.9, 0.8), (False, True), (None, (5, 9)))
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    (first / LISTS).write_text(item.to_json() + "\n", "utf-8")
    train(first, minutes=5)
    one = json.loads((first / "reader" / MANIFEST).read_text("utf-8"))["residual"]
    assert one["passes"] == [{**one["passes"][0], "questions": 1, "from": "shipped"}]
    assert one["alpha"] != 0.0  # the blend learns along with the reader
    train(second, minutes=0, seed=14, start=first)  # no time for a step: it saves what it started from
    two = json.loads((second / "reader" / MANIFEST).read_text("utf-8"))["residual"]
    assert [p["seed"] for p in two["passes"]] == [13, 14] and two["passes"][1]["from"] == str(first)
    assert two["passes"][1]["questions"] == 0
    assert (two["tau"], two["alpha"]) == pytest.approx((one["tau"], one["alpha"]))  # the first pass's blend
    assert (second / LISTS).read_text("utf-8") == (first / LISTS).read_text("utf-8")
