"""Training pairs for the reader: the answer's sentence, its span, and the negatives around it."""

from __future__ import annotations

import random
from pathlib import Path

from rag.rankers.reader import BEFORE_CHARS, SENTENCE_CHARS
from rag.training.calibrate import dev_set
from rag.training.pairs import (
    DEV_SETS,
    build_pairs,
    clip,
    locate_questions,
    paragraph_sentences,
    question_texts,
    reader_sets,
)
from rag.training.squad import QA, Article, Paragraph
from tests.test_training_squad import squad_file

ZH = "深度求索是一家公司。它由梁文峰创立。公司位于杭州。它发布了R1模型。"


def _article(aid: str, context: str, qas: tuple[QA, ...], title: str = "深度求索") -> Article:
    return Article(aid, title, (Paragraph(f"{aid}-0", context, qas),))


def _zh() -> Article:
    return _article("a", ZH, (QA("q1", "谁创立了深度求索？", "梁文峰", ZH.index("梁文峰")),))


def test_the_positive_is_the_sentence_holding_the_answer_with_its_span() -> None:
    [located] = locate_questions([_zh()], paragraph_sentences([_zh()]))
    pairs = build_pairs([_zh(), _article("b", "天气很好。明天下雨。", ())], [located], random.Random(0))
    [positive] = [p for p in pairs if p.label == 1]
    assert positive.candidate.sentence == "它由梁文峰创立。"
    assert positive.candidate.before == "深度求索是一家公司。"
    assert positive.candidate.title == "深度求索"
    assert positive.answer is not None
    assert positive.candidate.sentence[slice(*positive.answer)] == "梁文峰"


def test_negatives_are_the_paragraphs_other_sentences_and_another_articles() -> None:
    [located] = locate_questions([_zh()], paragraph_sentences([_zh()]))
    pairs = build_pairs([_zh(), _article("b", "天气很好。明天下雨。", ())], [located], random.Random(0))
    negatives = {p.candidate.sentence for p in pairs if p.label == 0}
    assert len(negatives & {"深度求索是一家公司。", "公司位于杭州。", "它发布了R1模型。"}) == 3
    assert negatives & {"天气很好。", "明天下雨。"}
    assert all(p.answer is None for p in pairs if p.label == 0)


def test_the_question_itself_is_a_negative_in_the_paragraphs_language() -> None:
    english = {"q1": "Who founded DeepSeek?"}
    [located] = locate_questions([_zh()], paragraph_sentences([_zh()]), english)
    pairs = build_pairs([_zh(), _article("b", "天气很好。明天下雨。", ())], [located], random.Random(0), restating=True)
    [heading] = [p for p in pairs if p.candidate.sentence == "谁创立了深度求索？"]
    assert (heading.question, heading.label, heading.answer) == ("Who founded DeepSeek?", 0, None)
    assert heading.candidate.title == "深度求索"
    without = build_pairs([_zh()], [located], random.Random(0))
    assert all(p.candidate.sentence != "谁创立了深度求索？" for p in without)


def test_the_dev_set_reads_the_question_as_a_heading_before_the_other_articles_sentences() -> None:
    articles = [_zh(), _article("b", "天气很好。明天下雨。", ())]
    [plain] = dev_set("zh→zh", articles, None, 10, random.Random(0)).questions
    assert "谁创立了深度求索？" not in [c.sentence for c in plain.passages]
    [question] = dev_set("zh→zh", articles, None, 10, random.Random(0), restating=True).questions
    texts = [c.sentence for c in question.passages]
    assert texts.count("谁创立了深度求索？") == 1
    assert texts.index("谁创立了深度求索？") == len(texts) - question.outside - 1
    assert set(texts[-question.outside :]) <= {"天气很好。", "明天下雨。"}


def test_a_question_in_another_language_is_asked_of_the_same_sentence() -> None:
    english = {"q1": "Who founded DeepSeek?"}
    [located] = locate_questions([_zh()], paragraph_sentences([_zh()]), english)
    assert (located.question, located.native_question) == ("Who founded DeepSeek?", "谁创立了深度求索？")
    assert question_texts([_zh()]) == {"q1": "谁创立了深度求索？"}


def test_a_question_missing_from_the_other_language_is_skipped() -> None:
    assert locate_questions([_zh()], paragraph_sentences([_zh()]), {}) == []


def test_the_reader_reads_the_start_of_a_long_sentence_and_the_end_of_the_one_before() -> None:
    candidate = clip("t", "前" * 200, "句" * 500)
    assert candidate.before == "前" * BEFORE_CHARS and candidate.sentence == "句" * SENTENCE_CHARS


def test_the_readers_question_sets_split_xquad_by_article_and_keep_cmrc_trial_for_dev(tmp_path: Path) -> None:
    (tmp_path / "xquad-train").mkdir()
    (tmp_path / "cmrc2018").mkdir()
    for lang in ("zh", "en"):
        squad_file(tmp_path / "xquad-train" / f"xquad.{lang}.json", articles=24)
    squad_file(tmp_path / "cmrc2018" / "cmrc2018_dev.json", articles=3)
    squad_file(tmp_path / "cmrc2018" / "cmrc2018_trial.json", articles=2)
    sets = reader_sets(tmp_path)
    assert [s.name for s in sets if not s.training] == list(DEV_SETS)
    assert [s.training for s in sets] == [True, True, True, False, False, False]
    xquad_train = {a.aid for s in sets[:2] for a in s.articles}
    xquad_dev = {a.aid for s in sets[3:5] for a in s.articles}
    assert len(xquad_train) == 18 and len(xquad_dev) == 6 and not xquad_train & xquad_dev
    assert sets[2].asked_as.keys() == {"q0-1", "q1-1", "q2-1"}  # CMRC dev's questions (q*-2's offsets are wrong)
