"""The verifier experiment: what it trains on, which weights it changes, and how its figures are costed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertModel

from rag.errors import ModelError
from rag.extraction import ScoredSentence
from rag.rankers.readernet import ReaderNet, encode, unpacked
from rag.rankers.reading import (
    VERIFIER_MANIFEST,
    VERIFIER_WEIGHTS,
    WEIGHTS,
    default_dir,
    verifier_reads,
    weights_digest,
)
from rag.training import verifier
from rag.training.pairs import QuestionSet
from rag.training.verifier import (
    GLOSSED,
    JUDGED,
    ROWS,
    First,
    _holds_start,
    _load,
    _write,
    collect,
    costs,
    glossed_set,
    load_verifier,
    logits,
    more_languages,
    train,
    trained_names,
    training_pairs,
)
from rag.types import Candidate, Chunk, Sentence
from tests.test_training_squad import squad_file

ANSWER = Candidate("龙井茶", "", "龙井茶产于杭州西湖。")
OTHER = Candidate("乌龙茶", "", "乌龙茶产于福建。")


def _first(set_: str, kind: str, gold: bool, found: Candidate | None = ANSWER) -> First:
    if found is None:
        return First(set_, "龙井茶产于哪里？", (0.8, 0.7), (), kind, ())
    return First(set_, "龙井茶产于哪里？", (0.8, 0.7), (found,), kind, (gold,))


def test_a_first_sentence_round_trips_with_or_without_a_sentence() -> None:
    three = First("train zh", "龙井茶产于哪里？", (0.8,), (OTHER, ANSWER, OTHER), "answerable", (False, True, False))
    for row in (_first("train zh", "answerable", True), _first("seeds", "near", False, None), three):
        assert First.from_json(row.to_json()) == row
    assert three.candidate == OTHER and not three.gold  # the first sentence, as the shipped verifier reads
    with pytest.raises(ValueError, match="collect again"):  # rows of the older, one-sentence format
        First.from_json(
            '{"set": "s", "question": "q", "signals": [], "candidate": null, "kind": "near", "gold": false}'
        )


def test_training_pairs_are_answers_against_unindexed_questions_and_near_misses() -> None:
    rows = [
        _first("train zh", "answerable", True),
        _first("train zh", "answerable", False, OTHER),  # answerable, but its first sentence misses: left out
        _first("train zh", "not_indexed", False, OTHER),
        _first("train en", "near", False, OTHER),
        _first("train en", "not_indexed", False, None),  # nothing retrieved: nothing to read
        _first("zh→zh CMRC trial", "answerable", True),  # a dev set: never trained on
    ]
    assert training_pairs(rows) == [
        ("龙井茶产于哪里？", ANSWER, 1.0),
        ("龙井茶产于哪里？", OTHER, 0.0),
        ("龙井茶产于哪里？", OTHER, 0.0),
    ]


def test_reading_three_sentences_trains_on_each_of_them_answerable_misses_included() -> None:
    rows = [
        First("train zh", "龙井茶产于哪里？", (0.8,), (OTHER, ANSWER, OTHER), "answerable", (False, True, False)),
        First("train zh", "龙井茶产于哪里？", (0.8,), (OTHER, OTHER), "not_indexed", (False, False)),
        First("zh→zh CMRC trial", "龙井茶产于哪里？", (0.8,), (ANSWER,), "answerable", (True,)),
    ]
    q = "龙井茶产于哪里？"
    three = [(q, OTHER, 0.0), (q, ANSWER, 1.0), (q, OTHER, 0.0), (q, OTHER, 0.0), (q, OTHER, 0.0)]
    assert training_pairs(rows, read=3) == three
    assert training_pairs(rows, read=2) == [three[0], three[1], three[3], three[4]]
    assert training_pairs(rows) == [(q, OTHER, 0.0)]  # read 1: the answerable one's first sentence misses


def test_a_sentence_holds_the_answer_when_the_answer_starts_inside_it() -> None:
    text = "前言。龙井茶产于杭州西湖。"
    sentence = Sentence(3, len(text), text[3:])
    chunk = Chunk("c", "d", 0, 0, len(text), text, (Sentence(0, 3, text[:3]), sentence))
    s = ScoredSentence(1, chunk, sentence, 0.9, 0.5, 1.0)
    assert _holds_start("d", text.index("杭州"), s)
    assert not _holds_start("d", 0, s) and not _holds_start("other", text.index("杭州"), s)


def test_only_the_top_layers_and_the_relevance_head_are_trained() -> None:
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32)
    names = trained_names(ReaderNet(BertModel(config, add_pooling_layer=False)))
    assert names and all(
        n.startswith(("encoder.encoder.layer.2.", "encoder.encoder.layer.3.", "relevance.")) for n in names
    )
    assert any(n.startswith("relevance.") for n in names) and any(".layer.2." in n for n in names)
    assert not any(n.startswith("span.") for n in names)


def test_the_cost_counts_a_hidden_answer_twice() -> None:
    answered = np.array([True, False, True, False])
    labels = np.array([1.0, 1.0, 0.0, 0.0])
    assert costs(answered, labels) == pytest.approx((0.5, 0.5, 2 * 0.5 + 1 - 0.5))


@pytest.mark.model
def test_training_saves_only_what_it_changed_and_loading_puts_it_in_place(tmp_path: Path) -> None:
    rows = [_first("train zh", "answerable", True), _first("train zh", "not_indexed", False, OTHER)]
    (tmp_path / ROWS).write_text("".join(r.to_json() + "\n" for r in rows), "utf-8")
    train(tmp_path, epochs=1)
    saved = load_file(str(tmp_path / VERIFIER_WEIGHTS))
    assert saved and all(
        n.startswith(("encoder.encoder.layer.4.", "encoder.encoder.layer.5.", "relevance.")) for n in saved
    )
    manifest = json.loads((tmp_path / VERIFIER_MANIFEST).read_text("utf-8"))
    assert manifest["data"]["pairs"] == 2 and manifest["seed"] == 13
    assert manifest["reader_sha256"] == weights_digest(default_dir() / WEIGHTS)
    verifier = load_verifier(tmp_path)
    state = verifier.net.state_dict()
    assert all(torch.equal(state[n], t) for n, t in unpacked(saved).items())
    assert manifest["config"]["read"] == 1 and verifier.reads == 1
    with torch.inference_mode():
        relevance, _ = verifier.net(encode(verifier.tokenizer, ["龙井茶产于哪里？"], [ANSWER]))
    assert relevance.shape == (1,)
    # Reading more sentences: the highest logit among them, whichever place the best one has.
    both = First("train zh", "龙井茶产于哪里？", (0.8,), (OTHER, ANSWER), "answerable", (False, True))
    one, two = logits(verifier, [both]), logits(verifier, [both], read=2)
    with torch.inference_mode():
        each, _ = verifier.net(encode(verifier.tokenizer, ["龙井茶产于哪里？"] * 2, [OTHER, ANSWER]))
    assert one[0] == pytest.approx(float(each[0]), abs=1e-4) and two[0] == pytest.approx(float(each.max()), abs=1e-4)
    # Trained to read three sentences: loaded to read three (the pipeline reads as many; a manifest without says one).
    (tmp_path / VERIFIER_MANIFEST).write_text(json.dumps({**manifest, "config": {"read": 3}}), "utf-8")
    assert load_verifier(tmp_path).reads == 3
    # Trained on another reader (its bottom layers would not be the ones it learnt over): refused, saying what to do.
    (tmp_path / VERIFIER_MANIFEST).write_text(json.dumps({**manifest, "reader_sha256": "0" * 64}), "utf-8")
    with pytest.raises(ModelError, match=r"another reader.*RAG_VERIFIER=off"):
        load_verifier(tmp_path)


@pytest.mark.parametrize("config", [{"read": 0}, {"read": -1}, {"read": 2.7}, {"read": None}, {"read": True}, None])
def test_a_manifest_that_reads_no_whole_number_of_sentences_is_refused(config: object) -> None:
    with pytest.raises(ModelError, match=r"'config\.read'.*RAG_VERIFIER=off"):
        verifier_reads({"config": config} if config is not None else {"config": {"read": "three"}})


def test_a_manifest_without_read_reads_one_sentence() -> None:
    assert verifier_reads({}) == verifier_reads({"config": {}}) == 1 and verifier_reads({"config": {"read": 3}}) == 3


def test_a_missing_verifier_says_how_to_train_one(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"RAG_VERIFIER=off.*rag\.training\.verifier"):
        load_verifier(tmp_path)


def test_more_languages_ask_the_training_articles_only_over_the_chinese_paragraphs(tmp_path: Path) -> None:
    (tmp_path / "xquad-train").mkdir()
    for lang in ("zh", "de"):
        squad_file(tmp_path / "xquad-train" / f"xquad.{lang}.json", articles=24)
    (german,) = more_languages(tmp_path, ["de"])
    assert german.name == "train de→zh XQuAD 1-18" and german.training  # trained on, never judged
    assert len(german.articles) == 18  # XQuAD 19-24 are the dev articles
    for missing in (["fr"], ["en"]):  # no such file; asked already by the reader's sets
        with pytest.raises(ValueError, match="--languages"):
            more_languages(tmp_path, missing)


def test_rows_are_written_whole_and_read_back(tmp_path: Path) -> None:
    rows = [_first("train zh", "answerable", True), _first("seeds", "near", False, None)]
    _write(tmp_path, rows)
    assert _load(tmp_path) == rows and not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("append", [True, False])
def test_collect_with_append_keeps_the_rows_it_has_and_asks_only_the_sets_they_lack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, append: bool
) -> None:
    """No model is loaded and no question asked: what is collected, and what is kept, is recorded."""
    names = ["train en→zh XQuAD 1-18", "train zh→zh XQuAD 1-18", JUDGED[-1]]
    monkeypatch.setattr(verifier, "load_squad", lambda path: [])
    monkeypatch.setattr(verifier, "reader_sets", lambda datasets: [QuestionSet(n, [], {}, 6) for n in names[:2]])
    monkeypatch.setattr(verifier, "load_embedder", lambda settings: None)
    asked: list[str] = []

    def seed_firsts(settings: object, embedder: object) -> list[First]:
        asked.append(JUDGED[0])
        return [_first(JUDGED[0], "near", False)]

    def squad_firsts(settings: object, embedder: object, name: str, *rest: object) -> list[First]:
        asked.append(name)
        return [_first(name, "answerable", True)]

    monkeypatch.setattr(verifier, "seed_firsts", seed_firsts)
    monkeypatch.setattr(verifier, "squad_firsts", squad_firsts)
    kept = [_first(JUDGED[0], "near", False, OTHER), _first(names[0], "answerable", False, OTHER)]
    _write(tmp_path, kept)

    collect(tmp_path, tmp_path, append=append)

    rows = _load(tmp_path)
    if append:
        assert asked == names[1:] and rows[:2] == kept  # the seeds and the first set were there already
    else:
        assert asked == [JUDGED[0], *names] and OTHER not in {c for row in rows for c in row.candidates}
    assert [row.set for row in rows][-2:] == names[1:]


def test_the_glossed_set_asks_cmrc_devs_questions_in_english_words_over_its_paragraphs(tmp_path: Path) -> None:
    (tmp_path / "cmrc2018").mkdir()
    squad_file(tmp_path / "cmrc2018" / "cmrc2018_dev.json", articles=2)
    glossed = glossed_set(tmp_path)
    assert glossed.name == GLOSSED and glossed.training  # trained on, never judged
    assert len(glossed.articles) == 2 and glossed.asked_as["q0-1"] == "who establish DeepSeek?"
